"""Code analyzer: WSP compliance checks and automatic corrections."""

class WSPGuardian:
    """Finds WSP violations in module layouts and fixes the simple ones."""

    def check_test_placement(self, module_dir):
        """WSP 49: tests live in module/tests/, never in the module root."""
        print("[WSP-GUARDIAN] WSP 49 violation: test file")
        print("Moving")

    def check_modlog(self, module_dir):
        """WSP 22: every change is recorded in the module's ModLog.md."""
        print("[WSP-GUARDIAN] WSP 22 violation: ModLog.md not updated")
