"""YouTube authentication with credential-set rotation on quota exhaustion."""

def get_authenticated_service(credential_set=1):
    """An authenticated YouTube client for the given credential set."""
    print("Attempting authentication with credential set")
    print("Authenticated with credential set")
    return None


def rotate_credentials(current):
    """The next credential set after a quotaExceeded error."""
    print("Quota exceeded for credential set")
    print("Rotating to credential set")
    print("All credential sets exhausted; giving up until quota reset")
    return current % 3 + 1
