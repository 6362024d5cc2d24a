"""Stand-in of the host's IdleAutomationDAE (standard library only, like the host's).

Phase 3, ``_execute_pattern_training``, is the host's shape: a hard-coded
``O:/Foundups-Agent/012.txt`` and a line-number checkpoint. Off Windows that file does not
exist, so unadapted it reports ``"012.txt not found"`` — what the real one does on Linux.
The host keeps its state in ``memory/idle_state.json``; the stand-in keeps it in memory.
"""

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Dict

logger = logging.getLogger(__name__)


class IdleAutomationDAE:
    """Runs background tasks while the YouTube DAE is idle."""

    def __init__(self):
        self.idle_state: Dict[str, Any] = {
            "idle_session_count": 0,
            "execution_count_today": 0,
            "patterns_trained_total": 0,
        }

    def _parse_bool_env(self, key: str, default: bool) -> bool:
        value = os.getenv(key)
        if value is None:
            return default
        return value.strip().lower() in ("1", "true", "yes", "on")

    def _check_daily_limits(self) -> bool:
        return True

    def _check_network_connectivity(self) -> bool:
        return True

    async def _execute_git_push(self) -> Dict[str, Any]:
        return {"task": "git_push", "success": False, "error": "stand-in", "duration": 0}

    async def _execute_linkedin_post(self, git_result: Dict[str, Any]) -> Dict[str, Any]:
        return {"task": "linkedin_post", "success": False, "error": "stand-in", "duration": 0}

    async def _execute_pattern_training(self) -> Dict[str, Any]:
        """Phase 3: Qwen/Gemma pattern training from 012.txt (the host's hard-coded path)."""
        result = {
            "task": "pattern_training",
            "success": False,
            "patterns_stored": 0,
            "lines_processed": 0,
            "duration": 0,
        }
        start_time = datetime.now()
        try:
            if not self._parse_bool_env("AUTO_PATTERN_TRAINING", True):
                result["error"] = "Pattern training disabled"
                return result
            txt_file = Path("O:/Foundups-Agent/012.txt")
            if not txt_file.exists():
                result["error"] = "012.txt not found"
                return result
        except Exception as e:
            result["error"] = f"Training failed: {e}"
        finally:
            result["duration"] = (datetime.now() - start_time).total_seconds()
        return result

    async def run_idle_tasks(self) -> Dict[str, Any]:
        """Main entry point - execute idle automation tasks."""
        self.idle_state["idle_session_count"] += 1
        execution_result = {
            "session_id": self.idle_state["idle_session_count"],
            "timestamp": datetime.now().isoformat(),
            "tasks_executed": [],
            "overall_success": True,
            "duration": 0,
        }
        start_time = datetime.now()
        try:
            if not self._check_daily_limits():
                execution_result["skipped_reason"] = "daily_limit_reached"
                return execution_result
            if not self._check_network_connectivity():
                execution_result["skipped_reason"] = "no_network"
                return execution_result
            git_result = await self._execute_git_push()
            execution_result["tasks_executed"].append(git_result)
            linkedin_result = await self._execute_linkedin_post(git_result)
            execution_result["tasks_executed"].append(linkedin_result)
            training_result = await self._execute_pattern_training()
            execution_result["tasks_executed"].append(training_result)
            if training_result["success"]:
                logger.info(
                    f"Pattern training: {training_result['patterns_stored']} patterns stored"
                )
            else:
                logger.info(f"Pattern training skipped: {training_result.get('error', 'N/A')}")
            self.idle_state["execution_count_today"] += 1
        except Exception as e:
            execution_result["overall_success"] = False
            execution_result["error"] = str(e)
        finally:
            execution_result["duration"] = (datetime.now() - start_time).total_seconds()
        return execution_result


async def run_idle_automation() -> Dict[str, Any]:
    """Entry point called by the YouTube DAE when a stream ends: a new instance per call."""
    dae = IdleAutomationDAE()
    return await dae.run_idle_tasks()
