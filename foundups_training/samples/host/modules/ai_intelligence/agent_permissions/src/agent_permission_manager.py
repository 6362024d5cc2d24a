"""Agent permission manager: graduated, confidence-based file permissions for AI agents."""

class AgentPermissionManager:
    """Grants and revokes edit rights from an agent's confidence history."""

    def check(self, agent, action):
        """Whether agent may perform action now."""
        print("Permission check: agent")
