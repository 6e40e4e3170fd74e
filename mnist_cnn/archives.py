"""Zip archives from outside (`.keras` models, drawings `.npz`), judged from their directory before a byte is
decompressed: how many members, which, and how large each says it is.

zipfile reads only as much of a member as the directory declares (and then checks its CRC), so a member's
declared size bounds what reading it costs; a member that holds more than it declares fails its CRC.
"""

import io
import struct
import zipfile
from collections.abc import Mapping

from .errors import MnistCnnError

# The end of central directory record: signature, disk numbers, entries on this disk and in all, the
# directory's size and offset, the comment's length (APPNOTE 4.3.16); it ends the file, before a comment of up
# to 64 KB. Counted here because zipfile makes an object of every entry first: a 20 MB upload of empty entries
# is 400,000 of them.
END_RECORD = struct.Struct("<4s4H2LH")
END_SIGNATURE = b"PK\x05\x06"
MAX_COMMENT = 2**16 - 1
ZIP64_ENTRIES = 2**16 - 1  # the count a zip64 archive leaves here: its own record holds the real one
# which a locator just before this record points to; numpy and Keras never write one (fewer than 65,535 members,
# under 4 GB), so an archive that has one is refused rather than counted twice
ZIP64_LOCATOR, ZIP64_LOCATOR_SIZE = b"PK\x06\x07", 20
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}  # what numpy and Keras write


def open_zip(data: bytes, name: str, members: Mapping[str, int], error: type[MnistCnnError],
             kind: str) -> zipfile.ZipFile:
    """`data` as a ZipFile whose members are some of `members` (name -> the most bytes it may unpack to), each
    stored or deflated, unencrypted; else `error` with a one-line reason. `kind` names the file ("a .keras")."""
    tail = data[-(END_RECORD.size + MAX_COMMENT):]
    at = tail.rfind(END_SIGNATURE)
    if at < 0 or len(tail) - at < END_RECORD.size:
        raise error(f"{name} is not {kind} file (not a zip archive)")
    entries = END_RECORD.unpack_from(tail, at)[4]
    if entries > len(members):
        more = " or more" if entries == ZIP64_ENTRIES else ""
        raise error(f"{name} holds {entries:,}{more} files; {kind} file holds at most {len(members)} "
                    f"({', '.join(members)})")
    if tail[max(0, at - ZIP64_LOCATOR_SIZE) : at].startswith(ZIP64_LOCATOR):
        raise error(f"{name} is a zip64 archive, whose directory may count more entries; {kind} file never is")
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


def _mb(size):
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} KB"
