"""``python -m mxnetseg {train,eval,predict,download,data,convert,plot,bench,export} ...``"""
import sys

COMMANDS = ("train", "eval", "predict", "download", "data", "convert", "plot", "bench", "export")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}; use one of: {', '.join(COMMANDS)}",
                  file=sys.stderr)
        print(f"usage: python -m mxnetseg {{{','.join(COMMANDS)}}} [options]  "
              "(each command has --help)")
        return 2 if argv and argv[0] not in ("-h", "--help") else 0
    if argv[0] == "train":
        from .train import main as run
    elif argv[0] == "eval":
        from .eval import main as run
    elif argv[0] == "convert":
        from .convert import main as run
    elif argv[0] == "predict":
        from .predict import main as run
    elif argv[0] == "download":
        from .download import main as run
    elif argv[0] == "plot":
        from .plot import main as run
    elif argv[0] == "bench":
        from .bench import main as run
    elif argv[0] == "export":
        from .export import main as run
    else:  # "data check ..."
        from .data.check import main as run
    return run(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
