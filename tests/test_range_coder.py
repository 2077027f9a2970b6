import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from omnicodec.coding import CdfTables, build_tables, decode, encode, quantize_pmf
from omnicodec.errors import CodingError, DecodeError


def gaussian_tables(scales, tail=6.1):
    pmfs, offsets = [], []
    for s in scales:
        half = int(np.ceil(s * tail))
        v = np.arange(-half, half + 1)
        pmfs.append(norm.cdf((v + 0.5) / s) - norm.cdf((v - 0.5) / s))
        offsets.append(-half)
    return build_tables(pmfs, offsets)


SCALES = np.exp(np.linspace(np.log(0.11), np.log(256), 64))


def test_quantize_pmf_sums_and_floors():
    counts = quantize_pmf(np.array([0.5, 0.5, 0.0, 1e-12]), precision=8)
    assert counts.sum() == 256
    assert counts.min() >= 1
    assert counts[0] == counts[1]


def test_tables_reject_bad_layout():
    CdfTables(np.array([0, 5, 1 << 16, 0, 9, 1 << 16]), [2, 2], [0, 0])  # valid
    with pytest.raises(CodingError, match="increasing"):
        CdfTables(np.array([0, 5, 3, 1 << 16]), [3], [0])
    with pytest.raises(CodingError, match="2\\*\\*precision"):
        CdfTables(np.array([0, 5, 1 << 15]), [2], [0])
    with pytest.raises(CodingError, match="length"):
        CdfTables(np.array([0, 5, 1 << 16, 0]), [2], [0])


def test_rows_are_stored_back_to_back():
    tables = build_tables([np.array([0.5, 0.5]), np.full(6, 1 / 6)], [0, -3])
    assert tables.cdf.shape == (3 + 7 + 2,)  # rows of 2+1 and 6+1 symbols, +1 entry each
    np.testing.assert_allclose(tables.probabilities(1)[:6].sum(), 1.0, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_tables=st.integers(1, 6),
    n_symbols=st.integers(0, 400),
    precision=st.integers(8, 20),
)
def test_random_tables_round_trip(seed, n_tables, n_symbols, precision):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, n_tables)
    pmfs = [rng.dirichlet(np.full(k, 0.3)) * rng.uniform(0.5, 1.0) for k in lengths]
    offsets = rng.integers(-20, 20, n_tables)
    tables = build_tables(pmfs, offsets, precision)
    index = rng.integers(0, n_tables, n_symbols).astype(np.int32)
    # mostly in-support values, some far outside (escaped)
    symbols = offsets[index] + rng.integers(-5, lengths[index] + 5)
    wild = rng.random(n_symbols) < 0.05
    symbols = np.where(wild, rng.integers(-(2**31), 2**31 - 1, n_symbols), symbols).astype(np.int32)
    data = encode(symbols, index, tables)
    decoded = decode(data, index, tables)
    assert decoded.dtype == np.int32
    np.testing.assert_array_equal(decoded, symbols)


def test_gaussian_symbols_cost_what_the_model_says():
    rng = np.random.default_rng(1)
    tables = gaussian_tables(SCALES)
    n = 100_000
    index = rng.integers(0, 48, n)
    scale = SCALES[index]
    symbols = np.round(rng.normal(0.0, scale)).astype(np.int32)
    p = norm.cdf((symbols + 0.5) / scale) - norm.cdf((symbols - 0.5) / scale)
    ideal_bits = -np.log2(p).sum()
    data = encode(symbols, index, tables)
    assert 8 * len(data) <= 1.005 * ideal_bits + 64
    np.testing.assert_array_equal(decode(data, index, tables), symbols)


def test_extreme_values_round_trip_through_escape():
    tables = gaussian_tables(SCALES[:4])
    symbols = np.array([-(2**31), 2**31 - 1, 0, 1000, -1000, 7, -(2**30)], dtype=np.int32)
    index = np.array([0, 1, 2, 3, 0, 1, 2], dtype=np.int32)
    data = encode(symbols, index, tables)
    np.testing.assert_array_equal(decode(data, index, tables), symbols)


def test_multidimensional_shape_is_kept():
    tables = gaussian_tables(SCALES[:8])
    rng = np.random.default_rng(2)
    index = rng.integers(0, 8, (2, 3, 5, 7)).astype(np.int32)
    symbols = rng.integers(-3, 4, index.shape).astype(np.int32)
    out = decode(encode(symbols, index, tables), index, tables)
    assert out.shape == symbols.shape
    np.testing.assert_array_equal(out, symbols)


def test_empty_input():
    tables = gaussian_tables(SCALES[:2])
    empty = np.zeros(0, dtype=np.int32)
    data = encode(empty, empty, tables)
    assert decode(data, empty, tables).size == 0


def test_unconsumed_data_is_detected():
    tables = gaussian_tables(SCALES[:8])
    rng = np.random.default_rng(3)
    index = rng.integers(0, 8, 500).astype(np.int32)
    symbols = np.round(rng.normal(0, SCALES[index])).astype(np.int32)
    data = encode(symbols, index, tables)
    with pytest.raises(DecodeError):
        decode(data + data, index, tables)  # twice the data: the decoder is not exhausted
    with pytest.raises(DecodeError):
        decode(data[:-1], index, tables)  # not a whole number of words


def test_bad_arguments_are_named():
    tables = gaussian_tables(SCALES[:2])
    with pytest.raises(CodingError, match="table index out of range"):
        encode(np.zeros(3, np.int32), np.array([0, 1, 2]), tables)
    with pytest.raises(CodingError, match="differ in shape"):
        encode(np.zeros(3, np.int32), np.zeros(4, np.int32), tables)
    with pytest.raises(CodingError, match="integers"):
        encode(np.zeros(3, np.float32), np.zeros(3, np.int32), tables)


def test_several_calls_share_one_stream():
    """Passes whose tables depend on earlier passes: one stream, decoded call by call."""
    from omnicodec.coding import SymbolDecoder, SymbolEncoder

    tables = gaussian_tables(SCALES[:16])
    rng = np.random.default_rng(4)
    calls = []
    encoder = SymbolEncoder()
    for n in (0, 300, 1, 1000):
        index = rng.integers(0, 16, n).astype(np.int32)
        symbols = np.round(rng.normal(0, SCALES[index] * 3)).astype(np.int32)
        encoder.encode(symbols, index, tables)
        calls.append((symbols, index))
    data = encoder.finish()
    decoder = SymbolDecoder(data)
    for symbols, index in calls:
        np.testing.assert_array_equal(decoder.decode(index, tables), symbols)
    decoder.finish()
    # stopping early leaves data unconsumed, which finish() reports
    decoder = SymbolDecoder(data)
    decoder.decode(calls[1][1], tables)
    with pytest.raises(DecodeError):
        decoder.finish()


def test_tables_copy_and_pickle_after_use():
    import copy
    import pickle

    tables = gaussian_tables(SCALES[:4])
    data = encode(np.zeros(5, np.int32), np.arange(5, dtype=np.int32) % 4, tables)  # builds models
    for clone in (copy.deepcopy(tables), pickle.loads(pickle.dumps(tables))):
        np.testing.assert_array_equal(decode(data, np.arange(5, dtype=np.int32) % 4, clone), np.zeros(5))


def test_a_drifting_decoder_is_detected():
    """Decoding with table indices that differ from the encoder's must fail, not return garbage."""
    tables = gaussian_tables(SCALES[:16])
    rng = np.random.default_rng(5)
    index = rng.integers(4, 16, 2000).astype(np.int32)
    symbols = np.round(rng.normal(0, SCALES[index])).astype(np.int32)
    data = encode(symbols, index, tables)
    drifted = index.copy()
    drifted[1234] -= 1  # one scale picked one table lower, as an ulp of difference could do
    with pytest.raises(DecodeError, match="desynchronised"):
        decode(data, drifted, tables)
    np.testing.assert_array_equal(decode(data, index, tables), symbols)


def test_information_meter_counts_what_the_coder_codes():
    from omnicodec.coding import SymbolEncoder, information_meter

    rng = np.random.default_rng(5)
    tables = gaussian_tables(SCALES)
    n = 20_000
    index = rng.integers(0, 8, n).astype(np.int32)  # small scales: outliers escape
    symbols = np.round(rng.normal(0.0, SCALES[index])).astype(np.int32)
    symbols[::50] = rng.integers(-5000, 5000, n // 50)  # 2 % escapes with long payloads
    with information_meter() as outer:
        encoder = SymbolEncoder()
        with information_meter() as inner:
            encoder.encode(symbols[: n // 2], index[: n // 2], tables)
        encoder.encode(symbols[n // 2 :], index[n // 2 :], tables)
        data = encoder.finish()
    assert outer.symbols == n and inner.symbols == n // 2
    # the stream is the information content plus the flush and the 16-bit check value
    assert outer.bits <= 8 * len(data) <= outer.bits * 1.001 + 64
    # the escaped values' payload is counted: without it the meter would miss about 10 % here
    escape_free = tables.bits(symbols, index)
    assert 8 * len(data) > 1.05 * escape_free
