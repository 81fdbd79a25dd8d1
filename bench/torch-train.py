# PyTorch CPU anchor for `npm run bench -- train` (a benchmark-only comparison, never a project
# dependency). Trains the same network as the tfjs bench (Adam, synthetic data) for about
# `seconds` per thread count and prints one JSON line:
# {"torch": version, "defaultThreads": N, "samplesPerSecond": {threads: {"wall": samples per second, "cpu": samples per CPU-second}}}
# where threads is a count or "default" (torch's own choice, N threads, measured as is).
# usage: python3 bench/torch-train.py '{"kind": "mlp"|"cnn", ...}'
import json
import sys
import time

import torch
from torch import nn

spec = json.loads(sys.argv[1])
torch.manual_seed(1)
default_threads = torch.get_num_threads()


def bn(channels, momentum=0.99, dim=1):
    # Keras momentum m is PyTorch momentum 1 - m; epsilon 1e-3 as tfjs's default.
    return (nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d)(channels, momentum=1 - momentum, eps=1e-3)


def mlp(features, hidden, classes):
    layers, width = [], features
    for h in hidden:
        layers += [nn.Linear(width, h), bn(h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, classes))


def cnn_bn(channels, height, width, classes):
    # examples/cnn-bn.json: conv3x3 same (no bias) BN relu maxpool2, conv3x3 valid BN(0.9) relu,
    # flatten, dense16 BN relu, dense classes.
    h, w = height // 2 - 2, width // 2 - 2
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1, bias=False), bn(8, dim=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3), bn(8, 0.9, dim=2), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * h * w, 16), bn(16), nn.ReLU(), nn.Linear(16, classes),
    )


if spec["kind"] == "mlp":
    model = mlp(spec["features"], spec["hidden"], spec["classes"])
    x = torch.randn(1024, spec["features"])
else:
    model = cnn_bn(spec["channels"], spec["height"], spec["width"], spec["classes"])
    x = torch.randn(1024, spec["channels"], spec["height"], spec["width"])
y = torch.randint(0, spec["classes"], (1024,))
optimizer = torch.optim.Adam(model.parameters(), lr=spec["learningRate"], eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
batch = spec["batch"]


def steps(count):
    for i in range(count):
        start = (i * batch) % (1024 - batch + 1)
        optimizer.zero_grad()
        loss_fn(model(x[start:start + batch]), y[start:start + batch]).backward()
        optimizer.step()


rates = {}
for threads in spec["threads"]:
    torch.set_num_threads(default_threads if threads == "default" else threads)
    steps(3)  # warm-up
    started, cpu, done = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - started < spec["seconds"]:
        steps(5)
        done += 5
    rates[threads] = {"wall": done * batch / (time.perf_counter() - started), "cpu": done * batch / (time.process_time() - cpu)}
print(json.dumps({"torch": torch.__version__, "defaultThreads": default_threads, "samplesPerSecond": rates}))
