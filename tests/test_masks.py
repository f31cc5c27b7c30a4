"""Masks are honoured: extra padding never changes logits, and a different mask does."""

from __future__ import annotations

import pytest
import torch

from textclf.data.batching import pad_batch
from textclf.models.encoders import BagEncoder, CnnEncoder, RnnEncoder, TransformerEncoder
from textclf.models.heads import LinearHead
from textclf.models.net import NeuralNet
from textclf.models.pooling import build_pooling

VOCAB, PAD = 50, 0
ENCODERS = {
    "bag": lambda: BagEncoder(VOCAB, 16, PAD),
    "lstm_bi": lambda: RnnEncoder(VOCAB, 16, 12, "lstm", num_layers=2, bidirectional=True, pad_id=PAD),
    "gru_uni": lambda: RnnEncoder(VOCAB, 16, 12, "gru", bidirectional=False, pad_id=PAD),
    "cnn": lambda: CnnEncoder(VOCAB, 16, 8, (2, 3, 5), pad_id=PAD),
    "transformer_learned": lambda: TransformerEncoder(VOCAB, 16, 2, 2, 32, max_positions=64, positions="learned"),
    "transformer_sinusoidal": lambda: TransformerEncoder(VOCAB, 16, 4, 1, 32, max_positions=64,
                                                         positions="sinusoidal"),
}
POOLINGS = ["cls", "mean", "max", "attention"]
# Position 0 of these encoders only sees tokens near the start (bag: itself; forward GRU: the past;
# CNN: half a kernel), so CLS pooling cannot depend on the tokens the shorter mask removes.
CLS_BLIND = {"bag", "gru_uni", "cnn"}


def make_net(encoder: str, pooling: str) -> NeuralNet:
    torch.manual_seed(0)
    enc = ENCODERS[encoder]()
    net = NeuralNet(enc, build_pooling(pooling, enc.output_dim), LinearHead(enc.output_dim, 3, dropout=0.5))
    return net.eval()


def batch(extra_padding: int = 0):
    generator = torch.Generator().manual_seed(1)
    lengths = [7, 3, 11, 1]
    sequences = [torch.randint(1, VOCAB, (n,), generator=generator).tolist() for n in lengths]
    input_ids, mask = pad_batch(sequences, PAD)
    if extra_padding:
        input_ids = torch.cat([input_ids, torch.full((len(lengths), extra_padding), PAD)], dim=1)
        mask = torch.cat([mask, torch.zeros((len(lengths), extra_padding), dtype=torch.bool)], dim=1)
    return input_ids, mask


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_extra_padding_leaves_logits_unchanged(encoder, pooling):
    net = make_net(encoder, pooling)
    with torch.no_grad():
        plain = net(*batch())
        padded = net(*batch(extra_padding=9))
    assert plain.shape == (4, 3)
    torch.testing.assert_close(padded, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_a_shorter_mask_changes_the_output(encoder, pooling):
    net = make_net(encoder, pooling)
    input_ids, mask = batch()
    shorter = mask.clone()
    shorter[0, 4:] = False  # row 0 has 7 real tokens; treat the last 3 as padding (ids unchanged)
    with torch.no_grad():
        full, cut = net(input_ids, mask), net(input_ids, shorter)
    torch.testing.assert_close(cut[1:], full[1:], atol=1e-5, rtol=0)  # other rows untouched
    if pooling == "cls" and encoder in CLS_BLIND:
        torch.testing.assert_close(cut[0], full[0], atol=1e-5, rtol=0)
    else:
        assert (cut[0] - full[0]).abs().max() > 1e-4


@pytest.mark.parametrize("pooling", POOLINGS)
def test_pooling_ignores_values_under_the_mask(pooling):
    torch.manual_seed(0)
    pool = build_pooling(pooling, 4).eval()
    hidden = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    noisy = hidden.clone()
    noisy[0, 3:] = 1e6  # huge values at padded positions must not leak into the pooled vector
    torch.testing.assert_close(pool(noisy, mask), pool(hidden, mask))


def test_masked_mean_and_max_equal_hand_computed_values():
    hidden = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    torch.testing.assert_close(build_pooling("mean", 2)(hidden, mask), torch.tensor([[2.0, 1.0]]))
    torch.testing.assert_close(build_pooling("max", 2)(hidden, mask), torch.tensor([[3.0, 4.0]]))
    torch.testing.assert_close(build_pooling("cls", 2)(hidden, mask), torch.tensor([[1.0, -2.0]]))


def test_pad_batch_pads_to_the_longest_and_masks_real_tokens():
    input_ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert input_ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
