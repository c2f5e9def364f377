"""The gallery file: enrolled templates in one HDF5 file, safe under failure and concurrency.

Layout (schema version :data:`SCHEMA_VERSION`)::

    /                      attrs: format = "psface-gallery", schema_version,
                                  fingerprint (sha256 of the model's weights + config),
                                  modality, model (the run folder, for messages),
                                  dim, updated (ISO 8601 UTC)
    /templates/embedding   (N, D) float32  one L2-normalised template per enrolled session
    /templates/quality     (N,)   float32  the embedder's quality score of that session
    /templates/subject     (N,)   str      identity label
    /templates/session     (N,)   str      session label; (subject, session) is unique
    /templates/enrolled_at (N,)   str      enrolment time, ISO 8601 UTC
    /identities/subject    (M,)   str      distinct identities, sorted
    /identities/embedding  (M, D) float32  per identity: quality-weighted mean, renormalised
    /identities/count      (M,)   int64    templates per identity

Safety:

* **Atomic replace.** Every change writes a complete new file beside the gallery
  (``.NAME.tmp-PID-RANDOM``), flushes it to disk and ``os.replace``-s it over the old one.
  A writer killed at any moment leaves the old file or the new one, never a mix; a
  reader holds whichever file it opened, so it never sees a half-written state.
  Removed templates are really gone: the new file is written without them.
* **One writer at a time.** Read-modify-write runs under an exclusive ``fcntl.flock``
  on ``NAME.lock``; a second writer waits (saying so once) up to a timeout, then fails
  with a clear error. The kernel drops the lock when its holder dies, so a killed
  enrolment never leaves the gallery locked. Stale temporary files of killed writers
  are deleted by the next writer.

This is the only module in ``gallery/`` that opens files; templates are never pickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from gallery.templates import aggregate, l2_normalise
from psbase.errors import ConfigError, InputError

SCHEMA_VERSION = 1
FORMAT = "psface-gallery"
#: Seconds a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT = 120.0
_STRING = h5py.string_dtype("utf-8")


class ModelMismatchError(ConfigError):
    """The gallery was enrolled with a different model or modality than the one given."""


class GalleryLockedError(ConfigError):
    """Another process kept the gallery locked for longer than the timeout."""


@dataclass(frozen=True)
class Gallery:
    """The contents of a gallery file, as arrays (templates sorted by subject, session)."""

    path: Path
    fingerprint: str
    modality: str
    model: str
    templates: np.ndarray  # (N, D) float32
    quality: np.ndarray  # (N,) float32
    subject: np.ndarray  # (N,) str
    session: np.ndarray  # (N,) str
    enrolled_at: np.ndarray  # (N,) str
    identities: np.ndarray  # (M,) str
    identity_templates: np.ndarray  # (M, D) float32
    identity_counts: np.ndarray  # (M,) int64
    updated: str = ""

    @property
    def dim(self) -> int:
        return int(self.templates.shape[1])

    def __len__(self) -> int:
        return int(self.templates.shape[0])

    def check_model(self, fingerprint: str, modality: str, model: str = "") -> None:
        """Refuse a model other than the one that made these templates, saying which."""
        check_same_model(
            self.path, self.fingerprint, self.modality, self.model, fingerprint, modality, model
        )


def check_same_model(
    path: Path,
    have_fingerprint: str,
    have_modality: str,
    have_model: str,
    fingerprint: str,
    modality: str,
    model: str,
) -> None:
    """Raise :class:`ModelMismatchError` unless fingerprint and modality both match."""
    if have_fingerprint == fingerprint and have_modality == modality:
        return
    mine = f"model {have_model or '?'} (modality {have_modality}, "
    mine += f"fingerprint {have_fingerprint[:12]}"
    theirs = f"model {model or '?'} (modality {modality}, fingerprint {fingerprint[:12]}"
    raise ModelMismatchError(
        f"{path}: enrolled with {mine}), but given {theirs}); templates of different models "
        "cannot be compared: use the gallery's model or enrol into a new gallery"
    )


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _strings(dataset: h5py.Dataset) -> np.ndarray:
    return np.asarray(dataset.asstr()[()], dtype=str) if dataset.shape[0] else np.array([], str)


def read_gallery(path: str | Path) -> Gallery:
    """Open a gallery file, refusing a missing file, a foreign file or a newer schema."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such gallery; create one with `psface enroll`")
    try:
        handle = h5py.File(path, "r", locking=False)
    except OSError as error:
        raise InputError(path, f"not a readable HDF5 file ({error})") from None
    with handle:
        attrs = handle.attrs
        if attrs.get("format") != FORMAT or "schema_version" not in attrs:
            raise InputError(path, "not a psface gallery (no psface-gallery format attribute)")
        version = int(attrs["schema_version"])
        if version > SCHEMA_VERSION:
            raise InputError(
                path,
                f"gallery schema version {version} is newer than this psface reads "
                f"({SCHEMA_VERSION}); upgrade psface",
            )
        t, ids = handle["templates"], handle["identities"]
        return Gallery(
            path=path,
            fingerprint=str(attrs["fingerprint"]),
            modality=str(attrs["modality"]),
            model=str(attrs.get("model", "")),
            templates=t["embedding"][()].astype(np.float32, copy=False),
            quality=t["quality"][()].astype(np.float32, copy=False),
            subject=_strings(t["subject"]),
            session=_strings(t["session"]),
            enrolled_at=_strings(t["enrolled_at"]),
            identities=_strings(ids["subject"]),
            identity_templates=ids["embedding"][()].astype(np.float32, copy=False),
            identity_counts=ids["count"][()].astype(np.int64, copy=False),
            updated=str(attrs.get("updated", "")),
        )


def read_header(path: str | Path) -> dict[str, str | int]:
    """The gallery's attributes only (model, modality, sizes), without loading templates."""
    gallery = read_gallery(path)
    return {
        "fingerprint": gallery.fingerprint,
        "modality": gallery.modality,
        "model": gallery.model,
        "templates": len(gallery),
        "identities": int(gallery.identities.size),
        "dim": gallery.dim,
    }


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _build(
    path: Path,
    *,
    fingerprint: str,
    modality: str,
    model: str,
    templates: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    enrolled_at: np.ndarray,
) -> Gallery:
    """A consistent :class:`Gallery`: rows sorted by (subject, session), aggregates fresh."""
    order = np.lexsort((session, subject))
    templates, quality = templates[order], quality[order]
    subject, session, enrolled_at = subject[order], session[order], enrolled_at[order]
    identities, identity_templates, counts = aggregate(templates, quality, subject)
    return Gallery(
        path=path,
        fingerprint=fingerprint,
        modality=modality,
        model=model,
        templates=templates,
        quality=quality,
        subject=subject,
        session=session,
        enrolled_at=enrolled_at,
        identities=identities,
        identity_templates=identity_templates,
        identity_counts=counts,
        updated=_now(),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _string_dataset(group: h5py.Group, name: str, values: np.ndarray) -> None:
    group.create_dataset(name, data=np.asarray(values, dtype=object), dtype=_STRING)


def _write_atomic(gallery: Gallery, *, after_write: Callable[[], None] | None = None) -> None:
    """Write ``gallery`` to a temporary file, flush it, and rename it over the gallery."""
    path = gallery.path
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with h5py.File(tmp, "w", locking=False) as handle:
            handle.attrs.update(
                {
                    "format": FORMAT,
                    "schema_version": SCHEMA_VERSION,
                    "fingerprint": gallery.fingerprint,
                    "modality": gallery.modality,
                    "model": gallery.model,
                    "dim": gallery.dim,
                    "updated": gallery.updated,
                }
            )
            t = handle.create_group("templates")
            t.create_dataset("embedding", data=gallery.templates, dtype=np.float32)
            t.create_dataset("quality", data=gallery.quality, dtype=np.float32)
            _string_dataset(t, "subject", gallery.subject)
            _string_dataset(t, "session", gallery.session)
            _string_dataset(t, "enrolled_at", gallery.enrolled_at)
            ids = handle.create_group("identities")
            _string_dataset(ids, "subject", gallery.identities)
            ids.create_dataset("embedding", data=gallery.identity_templates, dtype=np.float32)
            ids.create_dataset("count", data=gallery.identity_counts, dtype=np.int64)
        _fsync(tmp)
        if after_write is not None:
            after_write()
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def gallery_lock(
    path: str | Path,
    *,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the gallery's exclusive writer lock (``NAME.lock``) for the block.

    If another process holds it, ``on_wait`` is called once with a sentence saying so,
    and the lock is retried until ``timeout`` seconds have passed; then
    :class:`GalleryLockedError`. Stale temporary files of killed writers are removed
    once the lock is held.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait(f"{path}: another process is writing this gallery; waiting for it")
                waited = True
                if time.monotonic() >= deadline:
                    raise GalleryLockedError(
                        f"{path}: still locked by another process after {timeout:g} s "
                        f"(lock file {lock_path.name}); try again when it has finished"
                    ) from None
                time.sleep(0.05)
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class EnrolResult:
    """What an enrolment changed."""

    added: int  # new (subject, session) templates
    replaced: int  # templates of (subject, session) pairs already enrolled, now replaced
    new_identities: int
    templates: int  # totals after the enrolment
    identities: int


def enroll(
    path: str | Path,
    templates: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    *,
    fingerprint: str,
    modality: str,
    model: str = "",
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
    _after_write: Callable[[], None] | None = None,
) -> EnrolResult:
    """Add templates to the gallery at ``path`` (created if absent), atomically.

    A (subject, session) pair already enrolled is replaced, so re-running an enrolment
    is harmless. A gallery made by another model or modality is refused
    (:class:`ModelMismatchError`). Templates are renormalised to unit length.
    """
    path = Path(path)
    templates = l2_normalise(np.asarray(templates, dtype=np.float32))
    quality = np.asarray(quality, dtype=np.float32).ravel()
    subject = np.asarray(subject, dtype=str).ravel()
    session = np.asarray(session, dtype=str).ravel()
    n = templates.shape[0]
    if templates.ndim != 2 or not (quality.size == subject.size == session.size == n):
        raise ValueError("templates (N, D), quality, subject and session (N,) must agree in N.")
    keys = np.char.add(np.char.add(subject, "\x1f"), session)
    if np.unique(keys).size != n:
        raise InputError(path, "the batch enrols the same (subject, session) twice")
    with gallery_lock(path, timeout=timeout, on_wait=on_wait):
        if path.exists():
            old = read_gallery(path)
            old.check_model(fingerprint, modality, model)
            if old.dim != templates.shape[1] and len(old):
                raise ModelMismatchError(
                    f"{path}: holds {old.dim}-dimensional templates, given {templates.shape[1]}"
                )
            old_keys = np.char.add(np.char.add(old.subject, "\x1f"), old.session)
            keep = ~np.isin(old_keys, keys)
            replaced = int((~keep).sum())
            new_identities = int(np.setdiff1d(subject, old.subject).size)
            model = model or old.model
            parts = (
                (old.templates[keep], templates),
                (old.quality[keep], quality),
                (old.subject[keep], subject),
                (old.session[keep], session),
                (old.enrolled_at[keep], np.full(n, _now())),
            )
            merged = [np.concatenate(p) for p in parts]
        else:
            replaced, new_identities = 0, int(np.unique(subject).size)
            merged = [templates, quality, subject, session, np.full(n, _now())]
        gallery = _build(
            path,
            fingerprint=fingerprint,
            modality=modality,
            model=model,
            templates=merged[0],
            quality=merged[1],
            subject=merged[2],
            session=merged[3],
            enrolled_at=merged[4],
        )
        _write_atomic(gallery, after_write=_after_write)
    return EnrolResult(
        added=n - replaced,
        replaced=replaced,
        new_identities=new_identities,
        templates=len(gallery),
        identities=int(gallery.identities.size),
    )


def remove(
    path: str | Path,
    subjects: list[str] | np.ndarray,
    *,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> int:
    """Remove every template of the given identities; return how many templates went.

    The file is rewritten without them, so their bytes do not linger in free space.
    Naming an identity that is not enrolled is an error (nothing is changed).
    """
    path = Path(path)
    subjects = np.asarray(list(subjects), dtype=str)
    with gallery_lock(path, timeout=timeout, on_wait=on_wait):
        old = read_gallery(path)
        unknown = np.setdiff1d(subjects, old.identities)
        if unknown.size:
            raise InputError(path, f"no enrolled identity {', '.join(unknown[:5])}")
        keep = ~np.isin(old.subject, subjects)
        gallery = _build(
            path,
            fingerprint=old.fingerprint,
            modality=old.modality,
            model=old.model,
            templates=old.templates[keep],
            quality=old.quality[keep],
            subject=old.subject[keep],
            session=old.session[keep],
            enrolled_at=old.enrolled_at[keep],
        )
        _write_atomic(gallery)
    return int((~keep).sum())
