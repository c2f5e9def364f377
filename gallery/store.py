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

* **Atomic replace.** Every change builds the complete new file in memory and writes it
  with :func:`psbase.atomic.write_atomically` (temporary file beside the gallery, flushed,
  renamed over it, owner-only 0600). A writer killed at any moment leaves the old file or
  the new one, never a mix; a full disk leaves the old file and no temporary file. HDF5
  never writes to the disk itself: a write that fails inside HDF5 leaves the file open in
  the library, which then crashes the interpreter at exit (a segfault in ``H5D_close``).
  Removed templates are really gone: the new file is written without them.
* **One writer at a time.** Read-modify-write runs under :func:`psbase.lock.exclusive_lock`
  on ``NAME.lock``; a second writer waits (saying so once) up to a timeout, then fails
  with one line. The kernel drops the lock when its holder dies, so a killed enrolment
  never leaves the gallery locked. Under the lock the temporary files of killed writers
  (full copies of the templates) are deleted: nobody else can be writing them then.
* **Checked on read.** Every attribute and dataset is checked (kind, dtype, shape, lengths,
  agreement between templates and identities) before use; a broken file is one line
  naming the file and the dataset.

This is the only module in ``gallery/`` that opens HDF5 files (maps files are opened by
the caller's ``open_maps``, :mod:`gallery.sources`); templates are never pickled.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from gallery.templates import aggregate, l2_normalise
from psbase.errors import ConfigError, InputError, one_line
from psbase.hdf5 import read_strings, write_hdf5_atomically
from psbase.lock import exclusive_lock
from psbase.outputs import check_output_file

SCHEMA_VERSION = 1
FORMAT = "psface-gallery"
#: Seconds a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT = 120.0
_STRING = h5py.string_dtype("utf-8")
#: Dataset -> (dtype kind: "f" float, "i" integer, "str" string; number of dimensions).
_TEMPLATES = {
    "embedding": ("f", 2),
    "quality": ("f", 1),
    "subject": ("str", 1),
    "session": ("str", 1),
    "enrolled_at": ("str", 1),
}
_IDENTITIES = {"subject": ("str", 1), "embedding": ("f", 2), "count": ("i", 1)}
_KINDS = {"f": "floating-point", "i": "integer", "str": "string"}
#: NumPy dtype kinds accepted for the numeric kinds.
_NUMERIC = {"f": "f", "i": "iu"}


class ModelMismatchError(ConfigError):
    """The gallery was enrolled with a different model or modality than the one given."""


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

    @property
    def last_enrolled(self) -> np.ndarray:
        """(M,) str: each identity's latest enrolment time (ISO 8601 sorts as time does)."""
        order = np.lexsort((self.enrolled_at, self.subject))
        return self.enrolled_at[order][np.cumsum(self.identity_counts) - 1]

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


@contextlib.contextmanager
def _open(path: Path) -> Iterator[h5py.File]:
    """The gallery file open for reading, its header checked; refusals name the file."""
    if path.is_dir():
        raise InputError(path, "is a folder, not a gallery file")
    if not path.is_file():
        raise InputError(path, "no such gallery; create one with `psface enroll`")
    try:
        handle = h5py.File(path, "r", locking=False)
    except OSError as error:
        raise InputError(path, f"not a psface gallery ({one_line(error)})") from None
    with handle:
        kind = _raw_attribute(path, handle, "format")
        if not (isinstance(kind, str) and kind == FORMAT):
            raise InputError(path, "not a psface gallery (no psface-gallery format attribute)")
        version = _attribute(path, handle, "schema_version", int)
        if version > SCHEMA_VERSION:
            raise InputError(
                path,
                f"gallery schema version {version} is newer than this psface reads "
                f"({SCHEMA_VERSION}); upgrade psface",
            )
        if version < 1:
            raise InputError(path, f"gallery schema version {version} is not one psface writes")
        yield handle


def _raw_attribute(path: Path, handle: h5py.File, name: str) -> object:
    """Root attribute ``name`` as h5py gives it (``None`` when absent)."""
    try:
        return handle.attrs.get(name)
    except (OSError, TypeError, ValueError) as error:
        raise InputError(path, f"attribute {name} cannot be read ({one_line(error)})") from None


def _attribute(path: Path, handle: h5py.File, name: str, kind: type, default=None):
    """Root attribute ``name`` as a plain str or int; a missing one is ``default``."""
    value = _raw_attribute(path, handle, name)
    if value is None:
        value = default
    if value is None:
        raise InputError(path, f"attribute {name} is missing; the file is damaged")
    if kind is int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if kind is str and isinstance(value, str):
        return str(value)
    shown = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
    raise InputError(
        path, f"attribute {name} is not a single {kind.__name__}; it holds {shown[:60]}"
    )


def _member(path: Path, group: h5py.Group, name: str, cls: type) -> h5py.Group | h5py.Dataset:
    """``group[name]``, which must be a plain (hard-linked) group or dataset of type ``cls``."""
    where = f"{group.name.strip('/')}/{name}".strip("/")
    what = "group" if cls is h5py.Group else "dataset"
    link = group.get(name, getlink=True)
    if link is None:
        raise InputError(path, f"{what} {where} is missing; the file is damaged")
    if not isinstance(link, h5py.HardLink):
        raise InputError(path, f"{where} is a link; a gallery holds plain groups and datasets")
    member = group[name]
    if not isinstance(member, cls):
        raise InputError(path, f"{where} is not a {what}")
    return member


def _keys(subject: np.ndarray, session: np.ndarray) -> np.ndarray:
    """One string per template naming its (subject, session) pair."""
    return np.char.add(np.char.add(subject, "\x1f"), session)


def _read(path: Path, group: h5py.Group, name: str, kind: str, ndim: int) -> np.ndarray:
    """Dataset ``group/name`` read whole, after checking its dtype kind and dimensions."""
    dataset = _member(path, group, name, h5py.Dataset)
    where = dataset.name.strip("/")
    is_string = h5py.check_string_dtype(dataset.dtype) is not None
    if is_string != (kind == "str") or (kind != "str" and dataset.dtype.kind not in _NUMERIC[kind]):
        raise InputError(
            path, f"dataset {where} has dtype {dataset.dtype}; expected {_KINDS[kind]} values"
        )
    if dataset.ndim != ndim:
        expected = "(N,)" if ndim == 1 else "(N, D)"
        raise InputError(path, f"dataset {where} has shape {dataset.shape}; expected {expected}")
    try:
        return read_strings(dataset) if kind == "str" else dataset[()]
    except (OSError, TypeError, ValueError) as error:
        raise InputError(path, f"dataset {where} cannot be read ({one_line(error)})") from None


def _same_length(path: Path, group: str, arrays: dict[str, np.ndarray]) -> int:
    """The common first dimension of ``arrays``; disagreeing lengths are refused."""
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{group}/{name} {n}" for name, n in lengths.items())
        raise InputError(path, f"datasets disagree in length ({listed}); the file is damaged")
    return next(iter(lengths.values()))


def _check_contents(path: Path, t: dict[str, np.ndarray], ids: dict[str, np.ndarray]) -> None:
    """Templates finite, (subject, session) unique, identities matching the templates."""
    if t["embedding"].shape[1] != ids["embedding"].shape[1]:
        raise InputError(
            path,
            f"templates/embedding is {t['embedding'].shape[1]}-dimensional but "
            f"identities/embedding {ids['embedding'].shape[1]}-dimensional; the file is damaged",
        )
    if t["embedding"].shape[1] == 0:
        raise InputError(path, "templates/embedding has no columns; the file is damaged")
    for where, values in (("templates", t["embedding"]), ("identities", ids["embedding"])):
        if not np.isfinite(values).all():
            raise InputError(path, f"dataset {where}/embedding holds NaN or infinite values")
    keys = _keys(t["subject"], t["session"])
    if np.unique(keys).size != keys.size:
        raise InputError(path, "templates hold the same (subject, session) twice")
    names, counts = np.unique(t["subject"], return_counts=True)
    if not (np.array_equal(names, ids["subject"]) and np.array_equal(counts, ids["count"])):
        raise InputError(
            path,
            "identities/subject and count disagree with templates/subject; the file is damaged",
        )


def read_gallery(path: str | Path) -> Gallery:
    """Open a gallery file, refusing a missing, foreign, newer or damaged one (one line)."""
    path = Path(path)
    with _open(path) as handle:
        groups = {g: _member(path, handle, g, h5py.Group) for g in ("templates", "identities")}
        t = {n: _read(path, groups["templates"], n, *k) for n, k in _TEMPLATES.items()}
        ids = {n: _read(path, groups["identities"], n, *k) for n, k in _IDENTITIES.items()}
        header = {
            "fingerprint": _attribute(path, handle, "fingerprint", str),
            "modality": _attribute(path, handle, "modality", str),
            "model": _attribute(path, handle, "model", str, ""),
            "updated": _attribute(path, handle, "updated", str, ""),
        }
    _same_length(path, "templates", t)
    _same_length(path, "identities", ids)
    _check_contents(path, t, ids)
    return Gallery(
        path=path,
        templates=t["embedding"].astype(np.float32, copy=False),
        quality=t["quality"].astype(np.float32, copy=False),
        subject=t["subject"],
        session=t["session"],
        enrolled_at=t["enrolled_at"],
        identities=ids["subject"],
        identity_templates=ids["embedding"].astype(np.float32, copy=False),
        identity_counts=ids["count"].astype(np.int64, copy=False),
        **header,
    )


def check_target(path: str | Path, *, must_exist: bool) -> None:
    """Fail fast, before any lock or work: ``path`` is a gallery, or a new file may go there.

    An existing file must carry the gallery header (so a maps file or a model given as
    ``--gallery`` is refused untouched, with no lock file left beside it).
    """
    path = Path(path)
    if must_exist or path.exists():
        with _open(path):
            return
    check_output_file(path)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Templates and their labels, one row per enrolled session, in any order."""

    templates: np.ndarray  # (N, D) float32
    quality: np.ndarray  # (N,) float32
    subject: np.ndarray  # (N,) str
    session: np.ndarray  # (N,) str
    enrolled_at: np.ndarray  # (N,) str

    def take(self, rows: np.ndarray) -> _Rows:
        """The rows a boolean mask or an index array picks."""
        return _Rows(
            self.templates[rows],
            self.quality[rows],
            self.subject[rows],
            self.session[rows],
            self.enrolled_at[rows],
        )

    def then(self, other: _Rows) -> _Rows:
        """These rows followed by ``other``'s."""
        return _Rows(
            np.concatenate([self.templates, other.templates]),
            np.concatenate([self.quality, other.quality]),
            np.concatenate([self.subject, other.subject]),
            np.concatenate([self.session, other.session]),
            np.concatenate([self.enrolled_at, other.enrolled_at]),
        )


def _rows(gallery: Gallery) -> _Rows:
    return _Rows(
        gallery.templates, gallery.quality, gallery.subject, gallery.session, gallery.enrolled_at
    )


def _build(path: Path, rows: _Rows, *, fingerprint: str, modality: str, model: str) -> Gallery:
    """A consistent :class:`Gallery`: rows sorted by (subject, session), aggregates fresh."""
    order = np.lexsort((rows.session, rows.subject))
    rows = rows.take(order)
    identities, identity_templates, counts = aggregate(rows.templates, rows.quality, rows.subject)
    return Gallery(
        path=path,
        fingerprint=fingerprint,
        modality=modality,
        model=model,
        templates=rows.templates,
        quality=rows.quality,
        subject=rows.subject,
        session=rows.session,
        enrolled_at=rows.enrolled_at,
        identities=identities,
        identity_templates=identity_templates,
        identity_counts=counts,
        updated=_now(),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _string_dataset(group: h5py.Group, name: str, values: np.ndarray) -> None:
    group.create_dataset(name, data=np.asarray(values, dtype=object), dtype=_STRING)


def _fill(handle: h5py.File, gallery: Gallery) -> None:
    """Write ``gallery`` into an empty, open HDF5 file (layout in the module docstring)."""
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


def _stale_temporaries(path: Path) -> list[Path]:
    """Temporary files of ``path`` that psbase's atomic writer makes (``.NAME.XXXXXXXX.tmp``)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    return [p for p in path.parent.glob(".*.tmp") if pattern.fullmatch(p.name)]


@contextlib.contextmanager
def gallery_lock(
    path: str | Path,
    *,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the gallery's writer lock for the block (:func:`psbase.lock.exclusive_lock`).

    Once it is held, temporary files of killed writers are removed: each is a full copy
    of the templates, and may hold people removed since.
    """
    path = Path(path)
    with exclusive_lock(path, timeout=timeout, on_wait=on_wait, what="gallery"):
        for stale in _stale_temporaries(path):
            stale.unlink(missing_ok=True)
        yield


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
    templates, quality, subject, session = _batch(path, templates, quality, subject, session)
    check_target(path, must_exist=False)
    with gallery_lock(path, timeout=timeout, on_wait=on_wait):
        old = read_gallery(path) if path.exists() else None
        if old is not None:
            _check_compatible(old, templates.shape[1], fingerprint, modality, model)
            model = model or old.model
        batch = _Rows(templates, quality, subject, session, np.full(subject.size, _now()))
        rows, replaced = _merge(old, batch)
        gallery = _build(path, rows, fingerprint=fingerprint, modality=modality, model=model)
        write_hdf5_atomically(path, lambda handle: _fill(handle, gallery), after_write=_after_write)
    enrolled_before = old.subject if old is not None else np.empty(0, str)
    return EnrolResult(
        added=subject.size - replaced,
        replaced=replaced,
        new_identities=int(np.setdiff1d(subject, enrolled_before).size),
        templates=len(gallery),
        identities=int(gallery.identities.size),
    )


def _batch(
    path: Path,
    templates: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The batch as the gallery stores it (unit float32 rows, flat labels), checked."""
    templates = l2_normalise(np.asarray(templates, dtype=np.float32))
    quality = np.asarray(quality, dtype=np.float32).ravel()
    subject = np.asarray(subject, dtype=str).ravel()
    session = np.asarray(session, dtype=str).ravel()
    n = templates.shape[0]
    if templates.ndim != 2 or not (quality.size == subject.size == session.size == n):
        raise ValueError("templates (N, D), quality, subject and session (N,) must agree in N.")
    if np.unique(_keys(subject, session)).size != n:
        raise InputError(path, "the batch enrols the same (subject, session) twice")
    return templates, quality, subject, session


def _check_compatible(old: Gallery, dim: int, fingerprint: str, modality: str, model: str) -> None:
    """Refuse templates of another model, or of another width, for an existing gallery."""
    old.check_model(fingerprint, modality, model)
    if old.dim != dim and len(old):
        raise ModelMismatchError(f"{old.path}: holds {old.dim}-dimensional templates, given {dim}")


def _merge(old: Gallery | None, batch: _Rows) -> tuple[_Rows, int]:
    """The old rows that the batch does not replace, then the batch; and how many it replaced."""
    if old is None or not len(old):  # an emptied gallery may have had another width
        return batch, 0
    replaced = np.isin(_keys(old.subject, old.session), _keys(batch.subject, batch.session))
    return _rows(old).take(~replaced).then(batch), int(replaced.sum())


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
    check_target(path, must_exist=True)
    with gallery_lock(path, timeout=timeout, on_wait=on_wait):
        old = read_gallery(path)
        unknown = np.setdiff1d(subjects, old.identities)
        if unknown.size:
            raise InputError(path, f"no enrolled identity {', '.join(unknown[:5])}")
        keep = ~np.isin(old.subject, subjects)
        gallery = _build(
            path,
            _rows(old).take(keep),
            fingerprint=old.fingerprint,
            modality=old.modality,
            model=old.model,
        )
        write_hdf5_atomically(path, lambda handle: _fill(handle, gallery))
    return int((~keep).sum())
