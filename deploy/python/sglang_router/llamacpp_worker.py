"""python -m sglang_router.llamacpp_worker: one llama.cpp server (the
`xllamacpp` package, llama.cpp's HTTP server in-process) serving a GGUF
model on one port, until SIGTERM. sglang-launch-server --backend llamacpp
starts one per rank.

It serves the OpenAI-compatible routes (/v1/completions,
/v1/chat/completions, /v1/models), /health (503 while loading), /metrics,
/slots; SGLang's own /generate, /flush_cache and /get_server_info are not
there (the router passes the engine's 404 through).
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading

PACKAGE = "xllamacpp==2026.10.11549"


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m sglang_router.llamacpp_worker")
    ap.add_argument("--model-path", required=True, help="the GGUF file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (prompt and generation)")
    ap.add_argument("--ctx", type=int, default=4096, help="context tokens per slot")
    ap.add_argument("--slots", type=int, default=1, help="requests decoded in parallel")
    ap.add_argument("--cache-ram-mib", type=int, default=256,
                    help="host-RAM prompt cache (0: a slot keeps only its last prompt)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if not os.path.isfile(args.model_path):
        sys.stderr.write("llamacpp_worker: --model-path %s: no such file (a .gguf model)\n" % args.model_path)
        return 2
    try:
        import xllamacpp
    except ImportError as e:
        sys.stderr.write("llamacpp_worker: the llama.cpp backend needs the Python package xllamacpp "
                         "(pip install %s) in the interpreter that runs it (%s)\n" % (PACKAGE, e))
        return 2
    p = xllamacpp.CommonParams()
    p.model.path = args.model_path
    p.hostnames = [args.host]
    p.port = args.port
    p.n_parallel = args.slots
    p.n_ctx = args.ctx * args.slots
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.cache_ram_mib = args.cache_ram_mib
    p.endpoint_metrics = True
    p.endpoint_slots = True
    # Slot actions (POST /slots/0?action=erase empties the cache) need a
    # save path, even to erase.
    p.slot_save_path = tempfile.mkdtemp(prefix="llamacpp-slots-")
    p.ui = False
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(p)  # returns once it listens
    print("llamacpp_worker listening on http://%s:%d (%s, %d thread(s), %d slot(s))"
          % (args.host, args.port, os.path.basename(args.model_path), args.threads, args.slots), flush=True)
    stop.wait()
    del server
    shutil.rmtree(p.slot_save_path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    # os._exit: the engine's threads must not hold the exit.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
