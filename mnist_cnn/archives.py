"""Zip archives from outside (`.keras` models, drawings `.npz`), judged from their directory before a byte is
decompressed: how many entries it has, which members, and how large each says it is.

A member is read in bounded steps (read_member): zipfile then decompresses at most a step past what the
directory declares and stops there, while a single read() decompresses up to 2 GB before cutting the result to
the declared size (a 10 KB config.json followed by 300 MB of deflated spaces took +600 MB).
"""

import io
import struct
import zipfile
from collections.abc import Mapping

from .errors import MnistCnnError

# The end of central directory record: signature, disk numbers, entries on this disk and in all, the
# directory's size and offset, the comment's length (APPNOTE 4.3.16); it ends the file, before a comment of up
# to 64 KB. The directory's entries are counted here, walking their headers, because zipfile makes an object of
# every entry first, whatever the record's count says: 400,000 entries in 19 MB took +143 MB and 5 s.
END_RECORD = struct.Struct("<4s4H2LH")
END_SIGNATURE = b"PK\x05\x06"
MAX_COMMENT = 2**16 - 1
ENTRY, ENTRY_SIGNATURE = struct.Struct("<4s24x3H12x"), b"PK\x01\x02"  # a directory entry: name, extra, comment
# A zip64 archive's own end record, which a locator just before this one points to: numpy and Keras never write
# one (fewer than 65,535 members, under 4 GB), so an archive that has one is refused rather than counted twice.
ZIP64_LOCATOR, ZIP64_LOCATOR_SIZE = b"PK\x06\x07", 20
STEP = 2**16  # bytes a member is read by
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}  # what numpy and Keras write


def open_zip(data: bytes, name: str, members: Mapping[str, int], error: type[MnistCnnError],
             kind: str) -> zipfile.ZipFile:
    """`data` as a ZipFile whose members are some of `members` (name -> the most bytes it may unpack to), each
    stored or deflated, unencrypted; else `error` with a one-line reason. `kind` names the file ("a .keras")."""
    tail = data[-(END_RECORD.size + MAX_COMMENT):]
    at = tail.rfind(END_SIGNATURE)
    if at < 0 or len(tail) - at < END_RECORD.size:
        raise error(f"{name} is not {kind} file (not a zip archive)")
    if tail[max(0, at - ZIP64_LOCATOR_SIZE) : at].startswith(ZIP64_LOCATOR):
        raise error(f"{name} is a zip64 archive, whose directory may count more entries; {kind} file never is")
    entries = _entries(data, len(data) - len(tail) + at, len(members) + 1)
    if entries > len(members):
        raise error(f"{name} holds {len(members) + 1} files or more; {kind} file holds at most {len(members)} "
                    f"({', '.join(members)})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise error(f"{name} is not {kind} file (not a readable zip archive: {e})") from None
    infos = archive.infolist()
    for info in infos:
        if info.filename not in members:
            raise error(f"{name} holds {info.filename[:80]!r}, which is not part of {kind} file "
                        f"({', '.join(members)})")
        if info.compress_type not in COMPRESSIONS or info.flag_bits & 0x1:
            raise error(f"{name}: {info.filename} is encrypted or compressed other than stored or deflated")
        if info.file_size > members[info.filename]:
            raise error(f"{name}: {info.filename} unpacks to {_mb(info.file_size)}, more than {kind} file's "
                        f"{_mb(members[info.filename])}")
    names = [info.filename for info in infos]
    if len(set(names)) < len(names):
        raise error(f"{name} holds the same member twice")
    return archive


def read_member(archive: zipfile.ZipFile, member: str) -> bytes:
    """A member's bytes, read in bounded steps (see above): at most its declared size, however it is packed."""
    with archive.open(member) as f:
        return b"".join(iter(lambda: f.read(STEP), b""))


def _entries(data, end, most):
    """How many entries the central directory before the end record at `end` holds, counted up to `most`, as
    zipfile finds them (the directory ends where the record begins, whatever the record's own offset says)."""
    size = END_RECORD.unpack_from(data, end)[5]
    at, count = end - size, 0
    while at >= 0 and at + ENTRY.size <= end and count < most:
        signature, *lengths = ENTRY.unpack_from(data, at)
        if signature != ENTRY_SIGNATURE:
            break
        at, count = at + ENTRY.size + sum(lengths), count + 1
    return count


def _mb(size):
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} KB"
