"""Main menu: argparse flags and the numbered interactive menu."""

def run_main_menu(run_training_system=None, execute_training_command=None):
    """Show the menu and dispatch the chosen option."""
    print("Menu option")
