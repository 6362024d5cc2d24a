"""Stand-in of the host's main menu: a strict argparse, then the interactive loop."""

import argparse


def run_main_menu(
    monitor_youtube,
    check_instance_status,
    run_training_system,
    execute_training_command,
    PATTERN_MEMORY_AVAILABLE: bool = False,
    PatternMemory=None,
) -> None:
    """Main entry point for interactive CLI (argparse is strict: unknown flags exit 2)."""
    parser = argparse.ArgumentParser(description="0102 FoundUps Agent")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--youtube", action="store_true", help="Monitor YouTube only")
    parser.add_argument("--status", action="store_true")
    parser.add_argument(
        "--training-command",
        type=str,
        help="Execute training command via Holo (e.g., utf8_scan, batch)",
    )
    parser.add_argument("--targets", type=str)
    parser.add_argument("--json-output", action="store_true")
    parser.add_argument(
        "--training-menu", action="store_true", help="Launch interactive training submenu"
    )
    args = parser.parse_args()

    if args.training_command:
        execute_training_command(args.training_command, args.targets, args.json_output)
        return
    if args.training_menu:
        run_training_system()
        return
    if args.status:
        check_instance_status()
        return
    if args.youtube:
        monitor_youtube()
        return

    while True:
        print("0102 FoundUps Agent - DAE Test Menu")
        print("1. YouTube DAE")
        print("10. Exit")
        print("11. Qwen/Gemma Training System")
        try:
            choice = input("Select option: ").strip()
        except EOFError:
            return
        if choice == "1":
            monitor_youtube()
        elif choice == "10":
            print("[EXIT] Exiting...")
            break
        elif choice in {"00", "status"}:
            check_instance_status()
        elif choice == "11":
            run_training_system()
        else:
            print("Invalid choice")
