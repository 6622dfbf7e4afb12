"""MelToAudioStream: chunking does not change the audio, the latency is what the attribute says,
no clicks, bounded state, bad input leaves the stream usable, and the quality is PGHI's."""
import math

import pytest
import torch

import inverse_mel
from devices import DEVICES, needs_cuda
from helpers import synthetic_audio
from inverse_mel import metrics
from inverse_mel.stream import MelToAudioStream

HIFIGAN = inverse_mel.get_preset("hifigan")  # uncentred frames (a shift)
VOCOS = inverse_mel.get_preset("vocos")  # centred frames, power 1


def _features(preset, seconds=1.0, batch=()):
    audio = synthetic_audio(preset.sample_rate, seconds=seconds)
    feats = preset.features(audio)
    if batch:
        scale = torch.linspace(0.5, 1.0, math.prod(batch)).reshape(*batch, 1, 1)
        feats = preset.features(audio * scale[..., 0])
    return audio, feats


def _run(stream, feats, chunk):
    pieces = [stream.push(feats[..., i:i + chunk]) for i in range(0, feats.shape[-1], chunk)]
    pieces.append(stream.flush())
    return torch.cat(pieces, dim=-1)


@pytest.mark.parametrize("preset", [HIFIGAN, VOCOS], ids=["hifigan", "vocos"])
@pytest.mark.parametrize("lookahead,refine,refine_frames", [
    (1, 2, 3),  # the default
    pytest.param(0, 0, 0, marks=pytest.mark.slow),
    pytest.param(1, 0, 0, marks=pytest.mark.slow),
    pytest.param(1, 4, 0, marks=pytest.mark.slow),
])
def test_chunking_does_not_change_the_audio(preset, lookahead, refine, refine_frames):
    _, feats = _features(preset, seconds=0.6, batch=(2,))
    outs = [_run(MelToAudioStream(preset, lookahead=lookahead, refine=refine, refine_frames=refine_frames), feats,
                 chunk) for chunk in (1, 7, 64)]
    assert outs[0].shape == (2, preset.frames_to_samples(feats.shape[-1]))
    scale = outs[0].abs().max()
    for other in outs[1:]:
        torch.testing.assert_close(other, outs[0], atol=1e-5 * float(scale), rtol=0)


@pytest.mark.parametrize("lookahead,refine_frames", [(0, 0), (1, 0), (1, 3)])
def test_returned_samples_follow_the_latency(lookahead, refine_frames):
    _, feats = _features(VOCOS, seconds=0.5)
    stream = MelToAudioStream(VOCOS, lookahead=lookahead, refine_frames=refine_frames)
    assert stream.latency == (lookahead + refine_frames) * VOCOS.hop_length + VOCOS.n_fft // 2
    returned = 0
    for t in range(feats.shape[-1]):
        returned += stream.push(feats[:, t:t + 1]).shape[-1]
        assert returned == max(0, (t + 1) * VOCOS.hop_length - stream.latency)
    returned += stream.flush().shape[-1]
    assert returned == VOCOS.frames_to_samples(feats.shape[-1])


def test_uncentred_latency_counts_the_shift():
    _, feats = _features(HIFIGAN, seconds=0.3)
    stream = MelToAudioStream(HIFIGAN, lookahead=1, refine_frames=0)
    got = stream.push(feats).shape[-1]
    assert got == feats.shape[-1] * HIFIGAN.hop_length - stream.latency
    assert stream.latency < HIFIGAN.hop_length + HIFIGAN.n_fft // 2  # the uncentred frames' shift


@pytest.mark.parametrize("lookahead,refine", [(0, 0), (1, 2)])
def test_no_clicks_on_a_pure_tone(lookahead, refine):
    preset = VOCOS
    t = torch.arange(int(0.8 * preset.sample_rate), dtype=torch.float64) / preset.sample_rate
    tone = (0.5 * torch.sin(2 * math.pi * 440.0 * t)).float()
    feats = preset.features(tone)
    out = _run(MelToAudioStream(preset, lookahead=lookahead, refine=refine), feats, 7)
    # Away from the ends, where the reflect-padded analysis frames differ from the tone's.
    edge = preset.n_fft
    inner = out[edge:-edge].double()
    # A sinusoid of amplitude A steps by at most 2 A sin(pi f / rate): the largest step of a tone
    # as loud as the output's peak. A click (a jump at a chunk or frame edge) exceeds it; 1% covers
    # the output's slow amplitude ripple (0.3% measured, frame-periodic), not a click.
    own_step = 1.01 * 2 * inner.abs().max() * math.sin(math.pi * 440.0 / preset.sample_rate)
    steps = inner.diff().abs()
    assert float(steps.max()) <= float(own_step), (float(steps.max()), float(own_step))
    assert float(inner.abs().max()) > 0.25  # not silence


def test_state_is_bounded():
    _, feats = _features(VOCOS, seconds=0.5)
    stream = MelToAudioStream(VOCOS)
    sizes = []
    for _ in range(6):  # ~3 s of frames, in chunks of 9
        for i in range(0, feats.shape[-1], 9):
            stream.push(feats[:, i:i + 9])
            sizes.append((stream._ola.shape[-1], len(stream._pending)))
    # The overlap-add holds the open frames and less than one more, the queue at most the look-ahead.
    # (grown 16 hops at a time)
    assert max(s for s, _ in sizes) <= VOCOS.n_fft + (stream.refine_frames + 1 + 16) * VOCOS.hop_length
    assert max(p for _, p in sizes) <= stream.lookahead
    assert len(stream._open) <= stream.refine_frames
    assert sizes[len(sizes) // 2] == sizes[-1] or max(s for s, _ in sizes[len(sizes) // 2:]) <= max(
        s for s, _ in sizes[:len(sizes) // 2])


def test_quality_near_offline_pghi():
    audio, feats = _features(VOCOS, seconds=1.5)
    reference = VOCOS.spectrogram(audio)

    def sc(out):
        estimate = VOCOS.spectrogram(out)
        n = min(reference.shape[-1], estimate.shape[-1])
        return metrics.spectral_convergence(reference[..., :n], estimate[..., :n])

    offline = sc(inverse_mel.mel_to_audio(feats, VOCOS, method="pghi"))
    classic = sc(inverse_mel.mel_to_audio(feats, VOCOS, method="griffin_lim"))
    streamed = sc(_run(MelToAudioStream(VOCOS), feats, 16))
    # Measured on this signal: 1.2x offline pghi, 0.9x the classic chain.
    assert streamed <= 1.3 * offline and streamed <= classic, (streamed, offline, classic)


def test_model_like_mels_stay_finite_and_bounded():
    audio, feats = _features(HIFIGAN, seconds=1.0)
    noisy = feats + 0.3 * torch.randn(feats.shape, generator=torch.Generator().manual_seed(1))  # mel * exp(0.3 N)
    out = _run(MelToAudioStream(HIFIGAN), noisy, 5)
    assert bool(torch.isfinite(out).all())
    assert float(out.abs().max()) < 4 * float(audio.abs().max())


def test_push_after_flush_starts_a_new_stream():
    _, feats = _features(VOCOS, seconds=0.4)
    stream = MelToAudioStream(VOCOS)
    first = _run(stream, feats, 8)
    again = _run(stream, feats, 8)
    torch.testing.assert_close(again, first, atol=0, rtol=0)


def test_zero_frame_chunks_and_empty_flush():
    _, feats = _features(VOCOS, seconds=0.3)
    stream = MelToAudioStream(VOCOS)
    assert stream.push(feats[:, :0]).shape == (0,)
    whole = _run(MelToAudioStream(VOCOS), feats, 4)
    pieces = []
    for i in range(0, feats.shape[-1], 4):
        pieces += [stream.push(feats[:, i:i + 4]), stream.push(feats[:, :0])]
    torch.testing.assert_close(torch.cat(pieces + [stream.flush()]), whole, atol=0, rtol=0)
    assert MelToAudioStream(VOCOS).flush().numel() == 0


@pytest.mark.parametrize("bad,match", [
    (lambda f: f[:-1], r"\(\.\.\., 100, frames\)"),
    (lambda f: f[None].expand(2, -1, -1), "batch shape"),
    (lambda f: f.double(), "float32 on cpu"),
    (lambda f: f.half(), "float32 or float64"),
    (lambda f: torch.where(torch.arange(f.shape[-1]) == 1, float("nan"), f), "NaN or Inf"),
    (lambda f: torch.where(torch.arange(f.shape[-1]) == 2, float("inf"), f), "NaN or Inf"),
    (lambda f: f.numpy(), "must be a tensor"),
])
def test_bad_chunks_raise_and_leave_the_stream_unchanged(bad, match):
    _, feats = _features(VOCOS, seconds=0.4)
    whole = _run(MelToAudioStream(VOCOS), feats, 6)
    stream = MelToAudioStream(VOCOS)
    pieces = [stream.push(feats[:, :6])]
    with pytest.raises(ValueError, match=match):
        stream.push(bad(feats[:, 6:12]))
    for i in range(6, feats.shape[-1], 6):
        pieces.append(stream.push(feats[:, i:i + 6]))
    torch.testing.assert_close(torch.cat(pieces + [stream.flush()]), whole, atol=0, rtol=0)
    # ... and after a reset it is a fresh stream.
    stream.push(feats[:, :6])
    stream.reset()
    torch.testing.assert_close(_run(stream, feats, 6), whole, atol=0, rtol=0)


def test_bad_settings_and_linear_input():
    with pytest.raises(ValueError, match="lookahead must be 0 or 1"):
        MelToAudioStream(VOCOS, lookahead=2)
    with pytest.raises(ValueError, match="refine must be an int >= 0"):
        MelToAudioStream(VOCOS, refine=-1)
    with pytest.raises(ValueError, match="refine_frames must be an int >= 0"):
        MelToAudioStream(VOCOS, refine_frames=1.5)
    stream = MelToAudioStream(VOCOS, features=False)
    with pytest.raises(ValueError, match="non-negative"):
        stream.push(-torch.ones(VOCOS.n_mels, 3))


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_every_device(device):
    _, feats = _features(VOCOS, seconds=0.4)
    on_device = _run(MelToAudioStream(VOCOS), feats.to(device), 7)
    assert on_device.device.type == torch.device(device).type
    cpu = _run(MelToAudioStream(VOCOS), feats, 7)
    # The heap's ties and float sums may order differently on a GPU: close in norm, not bitwise.
    assert float((on_device.cpu() - cpu).norm() / cpu.norm()) < 0.05


@needs_cuda
def test_cuda_chunking_does_not_change_the_audio():
    _, feats = _features(VOCOS, seconds=0.4)
    feats = feats.cuda()
    a = _run(MelToAudioStream(VOCOS), feats, 1)
    b = _run(MelToAudioStream(VOCOS), feats, 64)
    torch.testing.assert_close(a, b, atol=1e-5 * float(a.abs().max()), rtol=0)


def _paper_heap(previous_phase, previous_magnitude, previous_time_step, magnitude, time_step, freq_step, init_phase,
                threshold):
    """The paper's real-time PGHI step written plainly (float64, one signal): the heap starts with
    every previous coefficient above the threshold; new coefficients that nothing reaches start
    from init_phase, the largest first."""
    import heapq

    n = len(magnitude)
    phase = list(init_phase)
    todo = {f for f in range(n) if magnitude[f] >= threshold and magnitude[f] > 0}
    heap = [(-previous_magnitude[f], 0, f) for f in range(n) if previous_magnitude[f] >= threshold]
    heapq.heapify(heap)
    while todo:
        if not heap:
            f = max(todo, key=lambda g: magnitude[g])
            todo.discard(f)
            heapq.heappush(heap, (-magnitude[f], 1, f))
            continue
        _, new, f = heapq.heappop(heap)
        if not new:
            if f in todo:
                phase[f] = previous_phase[f] + 0.5 * (previous_time_step[f] + time_step[f])
                todo.discard(f)
                heapq.heappush(heap, (-magnitude[f], 1, f))
            continue
        for g, sign in ((f + 1, 1.0), (f - 1, -1.0)):
            if g in todo:
                phase[g] = phase[f] + sign * 0.5 * (freq_step[f] + freq_step[g])
                todo.discard(g)
                heapq.heappush(heap, (-magnitude[g], 1, g))
    return phase


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_time_frame_phase_is_the_papers_heap(seed):
    from inverse_mel.functional.pghi import real_time_frame_phase

    gen = torch.Generator().manual_seed(seed)
    batch, n = 3, 41
    previous_magnitude = torch.rand(batch, n, generator=gen, dtype=torch.float64)
    magnitude = torch.rand(batch, n, generator=gen, dtype=torch.float64)
    previous_magnitude[:, 10:13] = 0.0  # islands of the previous frame, cut off below the threshold
    magnitude[:, 25:27] = 0.0
    previous_magnitude[2] = 0.0  # after silence: the new frame starts from its own largest coefficient
    args = [torch.rand(batch, n, generator=gen, dtype=torch.float64) * 6 - 3 for _ in range(5)]
    previous_phase, previous_time_step, time_step, freq_step, init_phase = args
    threshold = torch.full((batch,), 0.05, dtype=torch.float64)
    got = real_time_frame_phase(previous_phase, previous_magnitude, previous_time_step, magnitude, time_step,
                                freq_step, init_phase, threshold)
    for b in range(batch):
        expected = torch.tensor(_paper_heap(previous_phase[b].tolist(), previous_magnitude[b].tolist(),
                                            previous_time_step[b].tolist(), magnitude[b].tolist(),
                                            time_step[b].tolist(), freq_step[b].tolist(), init_phase[b].tolist(),
                                            0.05), dtype=torch.float64)
        # Equal modulo 2 pi (the copy column's steps reproduce the previous phase modulo 2 pi).
        difference = torch.remainder(got[b] - expected + math.pi, 2 * math.pi) - math.pi
        assert float(difference.abs().max()) < 1e-9, (b, difference)
