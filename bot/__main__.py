"""`python -m bot` is the same as the `skywatch` command."""

from bot.cli import main

if __name__ == "__main__":
    main()
