"""cuBLAS SGEMM baseline for benches/matmul.rs, on the GPU machine: the same square sizes, fp32
with TF32 off (our kernels are plain fp32), CUDA events, median of 20 runs.

python3 benches/torch_matmul_baseline.py [256,512,1024,2048,4096]
"""
import sys

import torch

torch.backends.cuda.matmul.allow_tf32 = False
sizes = [int(n) for n in (sys.argv[1] if len(sys.argv) > 1 else "256,512,1024,2048,4096").split(",")]
print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
print(f"{'size':>6} {'cuBLAS GFLOP/s':>15}")
for n in sizes:
    a = torch.rand(n, n, device="cuda") * 2 - 1
    b = torch.rand(n, n, device="cuda") * 2 - 1
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    median_ms = sorted(times)[len(times) // 2]
    print(f"{n:>6} {2 * n**3 / median_ms / 1e6:>15.1f}")
