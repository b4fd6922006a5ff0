#!/usr/bin/python3
"""Prints what libtorrent (python3-libtorrent) reads from each .torrent given, one JSON object per line."""
import json
import sys

import libtorrent as lt

for path in sys.argv[1:]:
    ti = lt.torrent_info(path)
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        files.append({
            "path": fs.file_path(i),
            "length": fs.file_size(i),
            "padding": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
        })
    print(json.dumps({
        "infoHash": str(ti.info_hash()),
        "name": ti.name(),
        "length": ti.total_size(),
        "pieceLength": ti.piece_length(),
        "pieceCount": ti.num_pieces(),
        "files": files,
        "trackers": [[t.tier, t.url] for t in ti.trackers()],
        "private": ti.priv(),
    }))
