"""make_fabric under torchrun: two CPU processes (gloo) train one model in sync.

The same launch that spreads a loop over GPUs and nodes (`torchrun ... --device cuda`), on CPU.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, sys
import torch
from entropykit_shared import finish_fabric, make_fabric, seed_everything

seed_everything(0)
fabric = make_fabric(device="cpu", devices=2, strategy="ddp")
torch.manual_seed(fabric.global_rank)  # different data per rank, as with a distributed sampler
model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model, optimizer = fabric.setup(model, optimizer)
x = torch.randn(64, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
losses = []
for _ in range(20):
    loss = ((model(x) - y) ** 2).mean()
    optimizer.zero_grad()
    fabric.backward(loss)
    optimizer.step()
    losses.append(loss.item())
out = {"rank": fabric.global_rank, "world": fabric.world_size, "losses": losses,
       "weight": model.weight.detach().flatten().tolist()}
with open(f"{sys.argv[1]}/rank{fabric.global_rank}.json", "w") as fh:
    json.dump(out, fh)
finish_fabric(fabric)
# torch's gloo backend can abort during interpreter shutdown after the work is done (see
# finish_fabric); skip that shutdown so the test checks the training, not torch's teardown.
sys.stdout.flush()
os._exit(0)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    cmd += [str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    # gradients are averaged across ranks, so both replicas hold the same weights
    assert ranks[0]["weight"] == ranks[1]["weight"]
    for r in ranks:
        assert r["losses"][-1] < 0.5 * r["losses"][0]
