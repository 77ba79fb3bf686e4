"""Keep Numba's on-disk cache of fasttrpo's kernels consistent with their sources.

Numba keys a cached function on its own source file only (modification time and size). A
kernel that calls a kernel of another file keeps the machine code it was compiled with, into
which the callee was inlined, when only the callee's file changes: after a ``git pull`` in an
editable install, say, it would silently compute with the old callee (seen in this project
when the gSDE kernels landed). So at import, a fingerprint of every source file of the package
(relative path, modification time, size) is compared with the one recorded beside the cache;
when they differ, fasttrpo's cache files are removed, and the kernels compile afresh once.
Standard library only (``import fasttrpo.runtime`` runs it too, without numba).

Only the default cache location (``__pycache__`` beside the sources) is managed: with
``NUMBA_CACHE_DIR`` set, clear that folder yourself after changing fasttrpo's sources.

A read-only installation (say, a wheel installed by another user): the clean-up's writes fail
and are ignored, and Numba, finding ``__pycache__`` not writable, caches in the user's cache
folder (``$XDG_CACHE_HOME/numba``, by default ``~/.cache/numba``) and loads from there in
later processes (``tests/test_wheel.py``). That folder is not cleaned here; the case above
(a source changed in place) does not arise there, and pip writes every file of a reinstalled
package anew, with a new modification time, which Numba's own check sees for every entry.
"""

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # fasttrpo/
MARKER = "numba-sources.sha1"


def sources_fingerprint(root: Path = PACKAGE) -> str:
    """SHA-1 of the relative path, modification time and size of every ``.py`` under ``root``."""
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()


def invalidate_stale_cache(root: Path = PACKAGE) -> bool:
    """Remove the Numba cache files under ``root`` when its sources changed since.

    Returns whether it removed them. Failures to read or write (a read-only install, where
    Numba caches elsewhere) are ignored.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    fingerprint = sources_fingerprint(root)
    marker = root / "__pycache__" / MARKER
    try:
        if marker.read_text() == fingerprint:
            return False
    except OSError:
        pass
    for pattern in ("*.nbi", "*.nbc"):
        for cache_file in root.rglob(f"__pycache__/{pattern}"):
            try:
                cache_file.unlink()
            except OSError:
                pass
    try:
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(fingerprint)
    except OSError:
        pass
    return True
