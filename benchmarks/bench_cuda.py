"""GPU forward time of the mel inverse, side by side in one run: our least squares against
torchaudio's method, the dense product and the memory-bandwidth limit; our NNLS on CUDA against our
least squares on CUDA and our NNLS on the CPU; CPU/CUDA parity; the NNLS kernel's local memory.
Needs a CUDA device (tools/gpu_check.sh runs it).

Configs: the four of the CPU benchmark; batch 1, 32 and 256 x 1000 frames; float32 and bfloat16
input. Timing: CUDA events after warm-up, medians (the CPU NNLS: wall clock, median).

  ours        inverse_mel.InverseMelScale(...).cuda() (operator factored once)
  dense       torch.relu(P @ melspec), P = pinv(fb.T) precomputed (the cuBLAS baseline)
  torchaudio  torch.relu(torch.linalg.lstsq(fb.T[None], melspec).solution) with gels, the only CUDA
              driver; it assumes full rank, so on rank-deficient configs (marked) its output is
              not a least-squares solution, only a timing
  limit       (bytes of melspec read + bytes of output written) / device-to-device copy bandwidth
              measured in the same run (read + write counted)
  nnls        InverseMelScale(..., solver="nnls").cuda(), the CUDA NNLS kernel
  nnls cpu    the same module on the CPU (batch 1 and 32, float32)
  local mem.  the device memory the NNLS kernels' thread-local state takes
  occupancy   the NNLS forward kernel's launch (one thread per frame): registers and local memory
              per thread, resident threads per SM (torch.ops.inverse_mel._nnls_cuda_launch_info);
              frames per second and Newton steps per frame at batch 256
  pghi        functional.phase_gradient_init on the GPU against the same call on the host (CPU)
  mel_to_audio  inverse_mel.mel_to_audio end to end (features -> audio) on the GPU against the CPU
  graphs      the modules eager, under torch.compile(mode="reduce-overhead") and replayed from a
              CUDA graph captured by hand (torch.cuda.CUDAGraph), at 1 x 100 and 32 x 1000 frames

Goals (issues 14 and 27): least squares at batch 256 >= 50x torchaudio's method and >= 70% of the copy
bandwidth; NNLS at batch 256 within 3x of our least squares; parity: least squares to float32
round-off, NNLS to tol with the same convergence flags.

Usage: python benchmarks/bench_cuda.py [--repeats 20] [--frames 1000] [--out benchmarks/results/cuda.md]
"""
import argparse
import os
import statistics
import time
import warnings

import torch

import inverse_mel
from common import machine, write_results

CONFIGS = {
    "whisper": dict(n_stft=201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney"),
    "docs": dict(n_stft=513, n_mels=128, sample_rate=16000),
    "tts": dict(n_stft=513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney"),
    "music": dict(n_stft=1025, n_mels=128, sample_rate=44100),
}
BATCHES = (1, 32, 256)
DTYPES = (torch.float32, torch.bfloat16)
CPU_NNLS_BATCHES = (1, 32)
DEVICE = "cuda"


SLOW_CALL_MS = 1000.0  # calls slower than this are timed 3 times at most (the GPU lease is short)


def cuda_median_ms(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        if len(times) >= 3 and min(times) > SLOW_CALL_MS:
            break
    return statistics.median(times)


def cpu_median_ms(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - start))
        if len(times) >= 3 and min(times) > SLOW_CALL_MS:
            break
    return statistics.median(times)


def copy_bandwidth(nbytes=1 << 30, repeats=20):
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=DEVICE)
    dst = torch.empty_like(src)
    ms = cuda_median_ms(lambda: dst.copy_(src), repeats)
    return 2 * nbytes / (ms / 1e3)


def modules(cfg, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (inverse_mel.InverseMelScale(**cfg).to(device),
                inverse_mel.InverseMelScale(**cfg, solver="nnls").to(device))


def model_like_mel(fb, batch, frames, generator):
    """A mel of a random power spectrum with 30% log-normal noise: no spectrum fits it exactly (like
    a model's output), so NNLS runs both phases."""
    spec = torch.rand(batch, fb.shape[0], frames, generator=generator, device=fb.device) ** 2
    noise = torch.randn(batch, fb.shape[1], frames, generator=generator, device=fb.device)
    return (fb.T @ spec) * torch.exp(0.3 * noise)


def local_memory_taken():
    """The device memory the NNLS kernels' thread-local state takes, cumulative over launches of
    growing size: the drop in free memory, less what PyTorch's allocator reserved meanwhile (the
    driver reserves local memory for every thread the GPU can hold, whatever the grid, and keeps it)."""
    torch.cuda.synchronize()
    free_start, reserved_start = torch.cuda.mem_get_info()[0], torch.cuda.memory_reserved()
    rows = []
    for name, dtype in (("tts", torch.float32), ("tts", torch.float64), ("music", torch.float64)):
        _, nnls = modules(CONFIGS[name], DEVICE)
        nnls = nnls.to(dtype)
        nnls(nnls.fb.T @ torch.rand(1, CONFIGS[name]["n_stft"], 64, device=DEVICE, dtype=dtype))
        torch.cuda.synchronize()
        free, reserved = torch.cuda.mem_get_info()[0], torch.cuda.memory_reserved()
        taken = (free_start - free) - (reserved - reserved_start)
        rows.append(dict(config=name, n_mels=CONFIGS[name]["n_mels"], dtype=str(dtype).replace("torch.", ""),
                         local_memory_gb=taken / 1e9))
    return rows


def parity(name, cfg, generator, frames):
    """CPU/CUDA agreement at batch 32 in float32 on model-like input."""
    cpu_ls, cpu_nnls = modules(cfg, "cpu")
    gpu_ls, gpu_nnls = modules(cfg, DEVICE)
    mel = model_like_mel(cpu_ls.fb, 32, frames, generator)
    ls_cpu, ls_gpu = cpu_ls(mel), gpu_ls(mel.to(DEVICE)).cpu()
    ls_err = float((ls_gpu - ls_cpu).norm() / ls_cpu.norm().clamp_min(1e-30))
    nnls_cpu, nnls_gpu = cpu_nnls.forward_with_info(mel), gpu_nnls.forward_with_info(mel.to(DEVICE))
    same_flags = bool(torch.equal(nnls_cpu.converged, nnls_gpu.converged.cpu()))
    frame_norm = torch.linalg.vector_norm(nnls_cpu.specgram, dim=-2).clamp_min(1e-30)
    frame_err = (torch.linalg.vector_norm(nnls_gpu.specgram.cpu() - nnls_cpu.specgram, dim=-2) / frame_norm)
    return dict(config=name, lstsq_rel_err=ls_err, nnls_same_flags=same_flags,
                nnls_converged=float(nnls_cpu.converged.float().mean()),
                nnls_max_frame_err=float(frame_err.max()), nnls_tol=cpu_nnls.tol)


def guarded(section, fn, errors):
    """Run one optional section; a failure is recorded in the results instead of ending the run."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the benchmark reports every failure it sees
        errors.append(f"{section}: {type(exc).__name__}: {exc}")
        print(f"[bench_cuda] {section} FAILED: {type(exc).__name__}: {exc}", flush=True)
        return []


def nnls_occupancy(frames, generator):
    """Launch configuration of the NNLS forward kernel, and its throughput at batch 256."""
    rows = []
    for name in ("tts", "docs"):
        cfg = CONFIGS[name]
        _, nnls = modules(cfg, DEVICE)
        regs, local_bytes, threads, blocks_per_sm, sms, max_threads = torch.ops.inverse_mel._nnls_cuda_launch_info(
            nnls.fb, cfg["n_mels"])
        mel = model_like_mel(nnls.fb, 256, frames, generator)
        info = nnls.forward_with_info(mel)
        steps = info.iterations.double()
        t = cuda_median_ms(lambda: nnls(mel), 5)
        rows.append(dict(config=name, n_mels=cfg["n_mels"], registers=regs, local_bytes=local_bytes,
                         threads_per_block=threads, blocks_per_sm=blocks_per_sm, sms=sms,
                         resident_frames=blocks_per_sm * threads * sms,
                         occupancy=blocks_per_sm * threads / max_threads, frames_per_s=256 * frames / (t / 1e3),
                         mean_steps=float(steps.mean()), max_steps=int(steps.max()),
                         converged=float(info.converged.float().mean()), ms=t))
        print(rows[-1], flush=True)
    return rows


def synthetic_features(preset_name, seconds, batch):
    """A preset's features of the demo's synthesized audio, (batch, n_mels, frames), on the CPU."""
    from inverse_mel.demo import synthesize

    preset = inverse_mel.get_preset(preset_name)
    audio = torch.stack([synthesize(preset.sample_rate, seconds, seed=i) for i in range(batch)])
    return preset, preset.features(audio)


def pghi_host_vs_device():
    """phase_gradient_init on the GPU against the host, on 10 s spectrograms (hifigan's STFT)."""
    from inverse_mel.demo import synthesize
    from inverse_mel.functional import phase_gradient_init

    preset = inverse_mel.get_preset("hifigan")
    rows = []
    for batch in (1, 16):
        audio = torch.stack([synthesize(preset.sample_rate, 10.0, seed=i) for i in range(batch)])
        window = torch.hann_window(preset.n_fft)
        spec = torch.stft(audio, preset.n_fft, preset.hop_length, window=window, return_complex=True).abs()
        spec_gpu, window_gpu = spec.to(DEVICE), window.to(DEVICE)
        gen_cpu = torch.Generator().manual_seed(0)
        gen_gpu = torch.Generator(device=DEVICE).manual_seed(0)
        t_cpu = cpu_median_ms(lambda: phase_gradient_init(spec, window, preset.n_fft, preset.hop_length,
                                                          generator=gen_cpu), 3)
        t_gpu = cuda_median_ms(lambda: phase_gradient_init(spec_gpu, window_gpu, preset.n_fft, preset.hop_length,
                                                           generator=gen_gpu), 3, warmup=1)
        rows.append(dict(batch=batch, seconds=10.0, frames=spec.shape[-1], host_ms=t_cpu, device_ms=t_gpu))
        print(rows[-1], flush=True)
    return rows


def mel_to_audio_gpu_vs_cpu():
    """mel_to_audio end to end (features in, audio out) on the GPU against the CPU."""
    rows = []
    for method in ("pghi", "griffin_lim"):
        for batch in (1, 8):
            preset, features = synthetic_features("hifigan", 10.0, batch)
            features_gpu = features.to(DEVICE)
            t_cpu = cpu_median_ms(lambda: inverse_mel.mel_to_audio(features, "hifigan", method=method), 3)
            t_gpu = cuda_median_ms(lambda: inverse_mel.mel_to_audio(features_gpu, "hifigan", method=method), 5, warmup=1)
            a_cpu = inverse_mel.mel_to_audio(features, "hifigan", method=method)
            a_gpu = inverse_mel.mel_to_audio(features_gpu, "hifigan", method=method).cpu()
            finite = bool(torch.isfinite(a_gpu).all())
            rows.append(dict(method=method, batch=batch, seconds=10.0, cpu_ms=t_cpu, gpu_ms=t_gpu, finite=finite,
                             peak_ratio=float(a_gpu.abs().max() / a_cpu.abs().max().clamp_min(1e-30))))
            print(rows[-1], flush=True)
    return rows


def graph_modes():
    """The modules eager, compiled with mode="reduce-overhead", and replayed from a captured CUDA graph."""
    rows = []
    cfg = CONFIGS["tts"]
    for solver in ("lstsq", "nnls"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = inverse_mel.InverseMelScale(**cfg, solver=solver).to(DEVICE)
        for batch, frames in ((1, 100), (32, 1000)):
            mel = model_like_mel(module.fb, batch, frames, torch.Generator(device=DEVICE).manual_seed(1))
            eager_out = module(mel)
            t_eager = cuda_median_ms(lambda: module(mel), 20)
            torch._dynamo.reset()
            compiled = torch.compile(module, mode="reduce-overhead", fullgraph=True)
            for _ in range(3):
                compiled_out = compiled(mel)
            compiled_ok = bool(torch.allclose(compiled_out, eager_out, rtol=1e-5, atol=1e-6))
            t_compiled = cuda_median_ms(lambda: compiled(mel), 20)
            static_in = mel.clone()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    module(static_in)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = module(static_in)
            graph.replay()
            graph_ok = bool(torch.equal(static_out, eager_out))
            t_graph = cuda_median_ms(graph.replay, 20)
            rows.append(dict(solver=solver, batch=batch, frames=frames, eager_ms=t_eager, compiled_ms=t_compiled,
                             graph_ms=t_graph, compiled_matches=compiled_ok, graph_matches=graph_ok))
            print(rows[-1], flush=True)
    return rows


def report(args, device, bandwidth, rows, parity_rows, local_memory, occupancy, pghi_rows, audio_rows, graph_rows,
           errors, final):
    """Write the results file from what has been measured so far."""
    slow_repeats = max(3, args.repeats // 4)
    lines = [
        f"# CUDA forward, {device}\n",
        f"Host: {machine()}. Measured device-to-device copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + write). "
        f"Batch x {args.frames} frames of model-like mels (30% log-normal noise). CUDA events after warm-up, median of "
        f"{args.repeats} (torchaudio's method and NNLS: of {slow_repeats}); CPU NNLS: wall clock, median of 3.\n",
        "| config | batch | dtype | ours ms | dense ms | torchaudio ms | torchaudio / ours | limit ms | limit / ours "
        "| NNLS ms | NNLS / ours | NNLS CPU ms | CPU / CUDA NNLS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = "" if r["rank"] == r["n_mels"] else f" (rank {r['rank']}/{r['n_mels']}: gels not a LS solution)"
        cpu = "" if r["nnls_cpu_ms"] != r["nnls_cpu_ms"] else f"{r['nnls_cpu_ms']:.1f}"
        cpu_ratio = "" if not cpu else f"{r['nnls_cpu_ms'] / r['nnls_ms']:.0f}x"
        lines.append(
            f"| {r['config']}{note} | {r['batch']} | {r['dtype']} | {r['ours_ms']:.3f} | {r['dense_ms']:.3f} | "
            f"{r['torchaudio_ms']:.3f} | {r['torchaudio_ms'] / r['ours_ms']:.0f}x | {r['limit_ms']:.3f} | "
            f"{r['limit_ms'] / r['ours_ms']:.0%} | {r['nnls_ms']:.3f} | {r['nnls_ms'] / r['ours_ms']:.1f}x | {cpu} | "
            f"{cpu_ratio} |")
    big = [r for r in rows if r["batch"] == max(BATCHES)]
    lines += [
        f"\n## Goals at batch {max(BATCHES)}\n",
        "| goal | worst | all configs and dtypes meet it |",
        "|---|---|---|",
        f"| least squares >= 50x torchaudio's method | {min(r['torchaudio_ms'] / r['ours_ms'] for r in big):.0f}x | "
        f"{all(r['torchaudio_ms'] / r['ours_ms'] >= 50 for r in big)} |",
        f"| least squares >= 70% of copy bandwidth | {min(r['limit_ms'] / r['ours_ms'] for r in big):.0%} | "
        f"{all(r['limit_ms'] / r['ours_ms'] >= 0.7 for r in big)} |",
        f"| NNLS within 3x of least squares | {max(r['nnls_ms'] / r['ours_ms'] for r in big):.1f}x | "
        f"{all(r['nnls_ms'] / r['ours_ms'] <= 3 for r in big)} |",
        "\n## CPU/CUDA parity (batch 32 x 200 frames, float32, model-like input)\n",
        "| config | lstsq rel. error | NNLS same flags | NNLS converged | NNLS worst frame error | NNLS tol |",
        "|---|---|---|---|---|---|",
    ]
    for p in parity_rows:
        lines.append(f"| {p['config']} | {p['lstsq_rel_err']:.1e} | {p['nnls_same_flags']} | {p['nnls_converged']:.1%} | "
                     f"{p['nnls_max_frame_err']:.1e} | {p['nnls_tol']:g} |")
    lines += ["\n## NNLS kernels' local memory (taken once per process by the driver)\n",
              "| config | n_mels | dtype | GB |", "|---|---|---|---|"]
    for m in local_memory:
        lines.append(f"| {m['config']} | {m['n_mels']} | {m['dtype']} | {m['local_memory_gb']:.2f} |")
    lines += ["\n## NNLS forward kernel: launch and throughput (batch 256, model-like input)\n",
              "One thread per frame, threads_per_block threads a block. Resident frames: the frames the whole GPU "
              "holds at once (blocks per SM x threads x SMs); occupancy: resident threads over the SM's maximum.\n",
              "| config | n_mels | registers | local bytes/thread | blocks/SM | resident frames | occupancy | ms "
              "| frames/s | steps mean | steps max | converged |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in occupancy:
        lines.append(f"| {o['config']} | {o['n_mels']} | {o['registers']} | {o['local_bytes']} | {o['blocks_per_sm']} | "
                     f"{o['resident_frames']} | {o['occupancy']:.0%} | {o['ms']:.2f} | {o['frames_per_s']:.3g} | "
                     f"{o['mean_steps']:.1f} | {o['max_steps']} | {o['converged']:.1%} |")
    lines += ["\n## PGHI: device against host (hifigan STFT, 10 s of audio per signal)\n",
              "| batch | frames | host ms | device ms | host / device |", "|---|---|---|---|---|"]
    for r in pghi_rows:
        lines.append(f"| {r['batch']} | {r['frames']} | {r['host_ms']:.1f} | {r['device_ms']:.1f} | "
                     f"{r['host_ms'] / r['device_ms']:.2f}x |")
    lines += ["\n## mel_to_audio end to end: GPU against CPU (hifigan, 10 s per item)\n",
              "| method | batch | CPU ms | GPU ms | CPU / GPU | GPU output finite | GPU peak / CPU peak |",
              "|---|---|---|---|---|---|---|"]
    for r in audio_rows:
        lines.append(f"| {r['method']} | {r['batch']} | {r['cpu_ms']:.0f} | {r['gpu_ms']:.1f} | "
                     f"{r['cpu_ms'] / r['gpu_ms']:.1f}x | {r['finite']} | {r['peak_ratio']:.3f} |")
    lines += ["\n## Modules under torch.compile(mode=\"reduce-overhead\") and CUDA graph replay (tts, float32)\n",
              "| solver | batch x frames | eager ms | compiled ms | graph replay ms | compiled matches eager "
              "| graph equals eager |", "|---|---|---|---|---|---|---|"]
    for r in graph_rows:
        lines.append(f"| {r['solver']} | {r['batch']} x {r['frames']} | {r['eager_ms']:.3f} | {r['compiled_ms']:.3f} | "
                     f"{r['graph_ms']:.3f} | {r['compiled_matches']} | {r['graph_matches']} |")
    if errors:
        lines += ["\n## Sections that failed\n"] + [f"- {e}" for e in errors]
    text = "\n".join(lines) + "\n"
    data = dict(device=device, bandwidth=bandwidth, rows=rows, parity=parity_rows, local_memory=local_memory,
                occupancy=occupancy, pghi=pghi_rows, mel_to_audio=audio_rows, graphs=graph_rows, errors=errors)
    if final:
        write_results(args.out, text, data)
    else:  # after each section, so a run cut short by the GPU lease still leaves its results
        with open(args.out, "w") as f:
            f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cuda.md"))
    args = parser.parse_args(argv)
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA device; none is visible to torch")
    slow_repeats = max(3, args.repeats // 4)
    device = torch.cuda.get_device_name()
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    cpu_generator = torch.Generator().manual_seed(0)
    bandwidth = copy_bandwidth()
    local_memory = local_memory_taken()
    rows, parity_rows, errors = [], [], []
    for name, cfg in CONFIGS.items():
        ours, nnls = modules(cfg, DEVICE)
        cpu_nnls = modules(cfg, "cpu")[1]
        fb = ours.fb
        rank = ours.rank
        pinv = torch.linalg.pinv(fb.T.double()).float()
        for batch in BATCHES:
            mel32 = model_like_mel(fb, batch, args.frames, generator)
            for dtype in DTYPES:
                melspec = mel32.to(dtype)
                out_bytes = batch * cfg["n_stft"] * args.frames * melspec.element_size()
                limit_ms = 1e3 * (melspec.numel() * melspec.element_size() + out_bytes) / bandwidth
                t_ours = cuda_median_ms(lambda: ours(melspec), args.repeats)
                t_dense = cuda_median_ms(lambda: torch.relu(pinv @ melspec.float()).to(dtype), args.repeats)
                t_ta = cuda_median_ms(
                    lambda: torch.relu(torch.linalg.lstsq(fb.T[None], melspec.float(), driver="gels").solution).to(dtype),
                    slow_repeats)
                t_nnls = cuda_median_ms(lambda: nnls(melspec), slow_repeats)
                t_nnls_cpu = float("nan")
                if dtype == torch.float32 and batch in CPU_NNLS_BATCHES:
                    mel_cpu = melspec.cpu()
                    t_nnls_cpu = cpu_median_ms(lambda: cpu_nnls(mel_cpu), 3)
                rows.append(dict(config=name, batch=batch, dtype=str(dtype).replace("torch.", ""), rank=rank,
                                 n_mels=cfg["n_mels"], ours_ms=t_ours, dense_ms=t_dense, torchaudio_ms=t_ta,
                                 limit_ms=limit_ms, nnls_ms=t_nnls, nnls_cpu_ms=t_nnls_cpu))
                print(rows[-1], flush=True)
        parity_rows.append(parity(name, cfg, cpu_generator, min(args.frames, 200)))
        print(parity_rows[-1], flush=True)
    occupancy, pghi_rows, audio_rows, graph_rows = [], [], [], []

    def save(final=False):
        report(args, device, bandwidth, rows, parity_rows, local_memory, occupancy, pghi_rows, audio_rows,
               graph_rows, errors, final)

    save()
    # The sections whose cost is known first: a run cut short loses only the last ones.
    occupancy += guarded("occupancy", lambda: nnls_occupancy(args.frames, generator), errors)
    save()
    graph_rows += guarded("graphs", graph_modes, errors)
    save()
    pghi_rows += guarded("pghi", pghi_host_vs_device, errors)
    save()
    audio_rows += guarded("mel_to_audio", mel_to_audio_gpu_vs_cpu, errors)
    save(final=True)
    if errors:
        raise SystemExit(f"bench_cuda.py: {len(errors)} section(s) failed: see {args.out}")


if __name__ == "__main__":
    main()
