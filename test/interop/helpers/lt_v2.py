#!/usr/bin/python3
"""BEP 52 checks with libtorrent (python3-libtorrent), one JSON object per line on stdout.

  lt_v2.py info FILE...             what libtorrent reads: v1/v2 info hashes, files (padding included)
  lt_v2.py check SAVE_PATH FILE...  adds each torrent over the data in SAVE_PATH (no peers, no network:
                                    a loopback session with DHT & co off) and reports whether libtorrent's
                                    hash check finds every piece: SHA-1 pieces and/or the v2 merkle trees
  lt_v2.py make VERSION SRC OUT     libtorrent makes a torrent of SRC (a file or folder): VERSION v2 or hybrid
"""
import json
import os
import sys
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(__file__))
from lt_session import loopback_session  # noqa: E402


def info(path):
    ti = lt.torrent_info(path)
    ih = ti.info_hashes()
    fs = ti.files()
    return {
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
        "name": ti.name(),
        "length": ti.total_size(),
        "pieceLength": ti.piece_length(),
        "pieceCount": ti.num_pieces(),
        "files": [{"path": fs.file_path(i), "length": fs.file_size(i),
                   "padding": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)}
                  for i in range(fs.num_files())],
    }


def check(save_path, paths):
    ses = loopback_session(0)
    try:
        for path in paths:
            h = ses.add_torrent({"ti": lt.torrent_info(path), "save_path": save_path})
            deadline = time.time() + 30
            st = h.status()
            while time.time() < deadline:
                st = h.status()
                if st.state in (lt.torrent_status.seeding, lt.torrent_status.finished, lt.torrent_status.downloading):
                    break
                time.sleep(0.05)
            print(json.dumps({"file": path, "state": str(st.state), "progress": st.progress,
                              "pieces": sum(1 for b in st.pieces if b), "pieceCount": len(st.pieces)}))
            ses.remove_torrent(h)
    finally:
        del ses


def make(version, src, out):
    fs = lt.file_storage()
    lt.add_files(fs, src)
    flags = lt.create_torrent.v2_only if version == "v2" else 0
    ct = lt.create_torrent(fs, 32768, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(src)))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    print(json.dumps({"file": out}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "info":
        for p in sys.argv[2:]:
            print(json.dumps(info(p)))
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3:])
    elif cmd == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4])
