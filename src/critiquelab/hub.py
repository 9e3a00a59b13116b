"""Publishing to the Hugging Face Hub: a folder or file as a model or dataset repository.

The token comes from the environment (HF_TOKEN) or huggingface-cli's login, never from us; a
failure (offline, no token, no access) is one line, not a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from critiquelab.errors import UsageError


def push(path: Path, repo: str, repo_type: str) -> str:
    """Upload `path` (a directory's files, or one file) to `repo`; returns the repo's URL."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise UsageError(f"--push-to-hub {repo}: expected a repository id ORG/NAME")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise UsageError(f"cannot push to {repo}: HF_HUB_OFFLINE is set (unset it to publish)")
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        url = api.create_repo(repo, repo_type=repo_type, exist_ok=True)
        if path.is_dir():
            api.upload_folder(folder_path=str(path), repo_id=repo, repo_type=repo_type)
        else:
            api.upload_file(path_or_fileobj=str(path), path_in_repo=path.name, repo_id=repo,
                            repo_type=repo_type)
    except Exception as e:  # noqa: BLE001 - network, auth and Hub errors all end here
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UsageError(f"cannot push to {repo} ({type(e).__name__}): {first[:160]}") from None
    return str(url)
