"""Stand-in of the host's headless training commands (``--training-command``)."""

import asyncio
import json
from typing import Any, Dict, Optional


def execute_training_command(command: str, targets: Optional[str], json_output: bool) -> None:
    """Execute training commands headlessly for 0102."""
    response: Dict[str, Any] = {"command": command, "status": "error"}
    try:
        if command == "utf8_scan":
            response.update({"status": "ok", "count": 0, "findings": []})
        elif command == "utf8_summary":
            response.update({"status": "ok", "total_findings": 0, "files": 0})
        elif command == "batch":
            from modules.infrastructure.idle_automation.src.idle_automation_dae import (
                IdleAutomationDAE,
            )

            dae = IdleAutomationDAE()
            result = asyncio.run(dae._execute_pattern_training())
            response.update({"status": "ok", "result": result})
        else:
            response["message"] = f"Unknown training command '{command}'"
    except Exception as exc:
        response["error"] = str(exc)
    if json_output:
        print(json.dumps(response, indent=2, default=str))
    elif response.get("status") == "ok":
        print(f"[INFO] {command} complete (host)")
    else:
        print(f"[ERROR] {response.get('message') or response.get('error')}")
