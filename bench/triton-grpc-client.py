#!/usr/bin/env python3
"""Triton's own Python gRPC client (tritonclient.grpc, unmodified) against bnserve's gRPC port.

Calls what perf_analyzer and Triton users call: live/ready/metadata, get_model_config,
get_inference_statistics, infer (raw contents), a streaming infer with a callback (good and bad
requests), the repository index and unload/load with the admin token. Exits 1 on the first surprise.

    python3 bench/triton-grpc-client.py [HOST:PORT] [MODEL] [ADMIN_TOKEN]

Needs tritonclient[grpc] (or its sources with stubs generated from triton-inference-server/common's
protos), numpy, and the HTTP port's /v2/models/MODEL/infer beside the gRPC one (HTTP_URL, default
http://127.0.0.1:8080) for the bitwise comparison with REST's binary answer.
"""
import json
import os
import queue
import struct
import sys
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8081"
model = sys.argv[2] if len(sys.argv) > 2 else "iris"
token = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("BNSERVE_ADMIN_TOKEN", "")
http_url = os.environ.get("HTTP_URL", "http://127.0.0.1:8080")
admin = {"authorization": f"Bearer {token}"}

client = grpcclient.InferenceServerClient(url=url)


def check(what, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail) if detail else ''}")
    if not ok:
        sys.exit(1)


check("is_server_live", client.is_server_live())
check("is_server_ready", client.is_server_ready())
check("is_model_ready", client.is_model_ready(model))
meta = client.get_server_metadata(as_json=True)
check("get_server_metadata", "model_configuration" in meta["extensions"], meta["extensions"])
mmeta = client.get_model_metadata(model, as_json=True)
check("get_model_metadata", mmeta["name"] == model, [(t["name"], t["datatype"], t["shape"]) for t in mmeta["inputs"]])

config = client.get_model_config(model, as_json=True)["config"]
check(
    "get_model_config",
    config["name"] == model and config["input"][0]["data_type"] == "TYPE_FP32",
    {k: config.get(k) for k in ("max_batch_size", "input", "output", "dynamic_batching", "instance_group")},
)
config_pb = client.get_model_config(model).config
check("get_model_config (protobuf)", config_pb.max_batch_size > 0 and config_pb.WhichOneof("scheduling_choice") == "dynamic_batching",
      f"max_batch_size={config_pb.max_batch_size}, dims={list(config_pb.input[0].dims)}")

features = int(config["input"][0]["dims"][0])
rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)[:, :features]
inp = grpcclient.InferInput(config["input"][0]["name"], list(rows.shape), "FP32")
inp.set_data_from_numpy(rows)
out_name = config["output"][0]["name"]
result = client.infer(model, [inp], request_id="unary-1", outputs=[grpcclient.InferRequestedOutput(out_name)])
probs = result.as_numpy(out_name)
check("infer (raw contents)", result.get_response().id == "unary-1" and probs.shape[0] == 2, probs.tolist())

# The same rows through REST's binary data extension: the bytes must be equal.
header = json.dumps({
    "inputs": [{"name": inp.name(), "shape": list(rows.shape), "datatype": "FP32", "parameters": {"binary_data_size": rows.nbytes}}],
    "outputs": [{"name": out_name, "parameters": {"binary_data": True}}],
}).encode()
req = urllib.request.Request(f"{http_url}/v2/models/{model}/infer", data=header + rows.tobytes(), method="POST",
                             headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
with urllib.request.urlopen(req) as r:
    body = r.read()
    hlen = int(r.headers["Inference-Header-Content-Length"])
check("infer: bitwise equal to REST's binary answer", body[hlen:] == probs.tobytes())

stats_before = client.get_inference_statistics(model, as_json=True)["model_stats"][0]

# Streaming: a callback per response; a bad request among good ones gets an error, the stream goes on.
answers = queue.Queue()
client.start_stream(callback=lambda result, error: answers.put((result, error)))
n = 50
for i in range(n):
    if i % 10 == 5:
        bad = grpcclient.InferInput(inp.name(), [1, features + 1], "FP32")
        bad.set_data_from_numpy(np.ones((1, features + 1), dtype=np.float32))
        client.async_stream_infer(model, [bad], request_id=f"s{i}")
    else:
        client.async_stream_infer(model, [inp], request_id=f"s{i}")
got = [answers.get(timeout=30) for _ in range(n)]
client.stop_stream()
errors = [str(e) for _, e in got if e is not None]
results = [r for r, e in got if e is None]
check("stream: every request answered", len(got) == n)
check("stream: bad requests answered with an error, the stream stayed open", len(errors) == 5, errors[0] if errors else "")
check("stream: good answers bitwise equal to unary",
      all(r.as_numpy(out_name).tobytes() == probs.tobytes() for r in results) and len(results) == 45)
check("stream: request ids in order", [r.get_response().id for r in results] == [f"s{i}" for i in range(n) if i % 10 != 5])

stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
check("get_inference_statistics", int(stats["inference_stats"]["success"]["count"]) - int(stats_before["inference_stats"]["success"]["count"]) == 45,
      {k: stats["inference_stats"][k] for k in ("success", "fail", "queue", "compute_infer")})

# Errors come back as Triton's client raises them.
try:
    client.get_model_config("nope")
    check("get_model_config of an unknown model", False)
except InferenceServerException as e:
    check("get_model_config of an unknown model", e.status() == "StatusCode.NOT_FOUND", e)

try:
    client.get_model_repository_index()
    check("get_model_repository_index without the token", False)
except InferenceServerException as e:
    check("get_model_repository_index without the token", e.status() == "StatusCode.UNAUTHENTICATED", e)

index = client.get_model_repository_index(headers=admin, as_json=True)
check("get_model_repository_index", any(m["name"] == model for m in index["models"]), index["models"])
client.unload_model(model, headers=admin)
try:
    # bnserve answers an admin-unloaded model NOT_FOUND (REST: 404), where Triton answers ready=false.
    check("unload_model", not client.is_model_ready(model))
except InferenceServerException as e:
    check("unload_model", e.status() == "StatusCode.NOT_FOUND", e)
client.load_model(model, headers=admin)
check("load_model", client.is_model_ready(model))
try:
    client.load_model(model, headers=admin, config=json.dumps({"max_batch_size": 8}))
    check("load_model(config=...) refused", False)
except InferenceServerException as e:
    check("load_model(config=...) refused", e.status() == "StatusCode.INVALID_ARGUMENT", e)

for name in ("get_system_shared_memory_status", "get_cuda_shared_memory_status", "get_trace_settings", "get_log_settings"):
    try:
        getattr(client, name)()
        check(name, False)
    except InferenceServerException as e:
        check(f"{name}: not served", e.status() == "StatusCode.UNIMPLEMENTED", e.status())
client.close()
print("all calls answered as Triton's client expects")
