"""Training commands: utf8_scan, utf8_summary, utf8_fix and batch from the command line."""

def execute_training_command(command, targets=None, json_output=False):
    """Run one training command."""
