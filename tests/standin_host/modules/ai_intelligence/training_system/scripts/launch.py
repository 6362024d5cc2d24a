"""Stand-in of the host's training-system launcher (menu option 11, ``--training-menu``)."""


def run_training_system():
    """Qwen/Gemma Training System submenu (the host's own, as a stand-in)."""
    while True:
        print("[MENU] QWEN/GEMMA TRAINING SYSTEM (host)")
        print("1. Start Batch Training (Process 012.txt)")
        print("0. Back to Main Menu")
        try:
            choice = input("Select option: ").strip()
        except EOFError:
            return
        if choice == "0":
            return
        print("[INFO] host batch training is not available in the stand-in")
