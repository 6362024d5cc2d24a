"""Social media orchestrator: cross-platform posting behind a circuit breaker."""

class CircuitBreaker:
    """Opens after three consecutive failures; half-opens after a backoff."""

    def record_failure(self):
        """Count a failure; open the breaker at the threshold."""
        print("Circuit breaker: 3 consecutive failures, backing off")
        print("Circuit breaker OPEN for")


class SocialMediaOrchestrator:
    """Posts stream announcements everywhere."""
