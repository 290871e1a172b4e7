"""Zeroes the cubins of every GPU architecture but one in a CUDA library's .nv_fatbin section.

Each fat binary's headers and every entry's size stay as they were, so the CUDA runtime reads
the library as before and loads the entries of the kept architecture; the zeroed payloads of
the others compress to almost nothing (bench/device/pack_cuda.sh carries the result to a
machine with that GPU). Usage: prune_fatbin.py LIBRARY ARCH (e.g. 90 for sm_90).
"""

import struct
import subprocess
import sys

FATBIN_MAGIC = 0xBA55ED50


def fatbin_section(path):
    """Offset and size of the .nv_fatbin section, from readelf."""
    for line in subprocess.check_output(["readelf", "-SW", path], text=True).splitlines():
        fields = line.split()
        if ".nv_fatbin" in fields:
            at = fields.index(".nv_fatbin")
            return int(fields[at + 3], 16), int(fields[at + 4], 16)
    raise SystemExit(f"{path} has no .nv_fatbin section")


def main():
    path, keep = sys.argv[1], int(sys.argv[2])
    data = bytearray(open(path, "rb").read())
    start, size = fatbin_section(path)
    position, end = start, start + size
    kept = zeroed = 0
    while position < end:
        magic, _version, header_size, fat_size = struct.unpack_from("<IHHQ", data, position)
        if magic != FATBIN_MAGIC:  # padding between fat binaries
            position += 8
            continue
        entry, last = position + header_size, position + header_size + fat_size
        while entry < last:
            _kind, _, entry_header, entry_size = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            payload = entry + entry_header
            if arch == keep:
                kept += entry_size
            else:
                data[payload:payload + entry_size] = bytes(entry_size)
                zeroed += entry_size
            entry = payload + entry_size
        position = last
    if kept == 0:
        raise SystemExit(f"{path} has no cubins for sm_{keep}: nothing would run")
    open(path, "wb").write(data)
    print(f"kept {kept / 1e6:.1f} MB of sm_{keep} cubins, zeroed {zeroed / 1e6:.1f} MB")


main()
