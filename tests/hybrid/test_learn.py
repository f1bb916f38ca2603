"""Learnable hybrid units fitted to data made by independent formulas, then frozen and exported.

The data never come from HybridUnit: targets are computed here with numpy from Bernoulli spike
trains X (rate 0.2, shape (n, T), zeros before t = 0) and a known kernel, written out by age
(``G[k]`` weighs ``x_{t-k}``): ``G[k] = exp(-k / 2)``, tau = 2 steps over L = 4.
"""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from hnnbio.errors import DataError, ParameterError
from hnnbio.hybrid.learn import apply_exported, fit_hybrid_unit
from hnnbio.hybrid.units import HybridUnit, threshold_surrogate

L = 4
G = np.array([1.0, 0.6065306597, 0.3678794412, 0.2231301601])  # exp(-k / 2), k = age 0..3
BINARY_WINDOWS = np.array(list(itertools.product([0.0, 1.0], repeat=L)))  # by age, all 2^L


def _spike_trains(n=200, steps=100, rate=0.2, seed=0):
    return (np.random.default_rng(seed).random((n, steps)) < rate).astype(float)


def _filtered(x, g):
    """sum_k g[k] x_{t-k}, with x = 0 before the start."""
    s = np.zeros_like(x)
    for k, gk in enumerate(g):
        s[:, k:] += gk * x[:, : x.shape[1] - k]
    return s


def _windows_by_age(x):
    padded = np.pad(x, ((0, 0), (L - 1, 0)))
    return np.lib.stride_tricks.sliding_window_view(padded, L, axis=1)[..., ::-1].reshape(-1, L)


def _effective(exported):
    """Kernel by age and bias of the affine map before F: gain * kernel (newest first), bias."""
    return exported["gain"] * exported["kernel"][::-1], exported["bias"]


def _polytope_box(labels):
    """Per-coordinate bounds of {r : r.w >= 1 where labels, r.w <= 1 elsewhere} (closure)."""
    a = np.vstack([-BINARY_WINDOWS[labels], BINARY_WINDOWS[~labels]])
    b = np.concatenate([-np.ones(labels.sum()), np.ones((~labels).sum())])
    box = []
    for i in range(L):
        c = np.zeros(L)
        c[i] = 1.0
        lo = linprog(c, A_ub=a, b_ub=b, bounds=[(None, None)] * L)
        hi = linprog(-c, A_ub=a, b_ub=b, bounds=[(None, None)] * L)
        assert lo.status == 0 and hi.status == 0, "the polytope is unbounded for this theta"
        box.append((lo.fun, -hi.fun))
    return np.array(box)


@pytest.mark.parametrize("surrogate", ["sigmoid", "straight_through"])
def test_threshold_unit_recovers_kernel_and_threshold_up_to_the_binary_polytope(surrogate):
    """Target ``y_t = [sum_k G[k] x_{t-k} >= THETA]``, THETA = 1.1 (a coincidence detector: the
    newest spike alone, 1.0, does not fire it; the smallest margin over binary windows is 0.0975).

    Derivation of the tolerance. On binary windows w the output depends on (kernel, theta) only
    through the labels [kernel . w >= theta] of the 2^L windows, and is unchanged by a positive
    scale, so fix the scale by theta: r = kernel / theta. The set of r giving the true labels is
    the open polytope P = {r : r.w >= 1 on positive windows, r.w < 1 on negative ones}; every r in
    P is indistinguishable from the truth r* = G / THETA on any binary data, so nothing finer than
    P can be recovered. The test asserts (a) the fitted unit labels all 2^L windows as the truth
    does, i.e. r_hat is in P, and (b) each coordinate lies in P's bounding box (computed by linear
    programming), hence |r_hat_i - r*_i| <= the box's width along i.
    """
    theta = 1.1
    x = _spike_trains(n=100)
    assert np.unique(_windows_by_age(x) @ 2 ** np.arange(L)).size == 2**L  # all windows occur
    y = (_filtered(x, G) >= theta).astype(float)
    hu = HybridUnit(
        window_length=L,
        kernel=torch.full((L,), 0.5),
        learnable=True,
        quantiser="threshold",
        theta=0.5,
        surrogate=surrogate,
    )
    assert isinstance(hu.theta, torch.nn.Parameter)
    # bce for the soft step (see fit_hybrid_unit: squared errors of a saturated sigmoid underflow);
    # the straight-through output is hard, so its squared error is exactly 0 once fitted
    loss = "bce" if surrogate == "sigmoid" else "mse"
    fit = fit_hybrid_unit(hu, torch.tensor(x), torch.tensor(y), loss=loss, steps=500)
    assert fit.final_loss < fit.losses[0] / 10

    hu.eval()
    with torch.no_grad():
        assert torch.equal(hu(torch.tensor(x)), torch.tensor(y, dtype=torch.float32))
    exported = hu.export()
    kernel, bias = _effective(exported)
    theta_hat = exported["theta"] - bias  # [gain k.w + bias >= theta] = [gain k.w >= theta - bias]
    assert theta_hat > 0
    r_hat, r_true = kernel / theta_hat, G / theta
    truth = BINARY_WINDOWS @ r_true >= 1
    np.testing.assert_array_equal(BINARY_WINDOWS @ r_hat >= 1, truth)  # (a)
    box = _polytope_box(truth)
    assert np.all((box[:, 0] <= r_true) & (r_true <= box[:, 1]))
    assert np.all((box[:, 0] <= r_hat) & (r_hat <= box[:, 1])), (r_hat, box)  # (b)
    assert np.all(np.abs(r_hat - r_true) <= box[:, 1] - box[:, 0])
    # the exported numbers, evaluated by numpy on every binary window, give the same labels
    windows_oldest_first = BINARY_WINDOWS[:, ::-1]
    np.testing.assert_array_equal(apply_exported(exported, windows_oldest_first), truth)


def test_sigmoid_unit_recovers_kernel_and_bias_within_the_least_squares_bound():
    """Target ``y_t = sigmoid(sum_k G[k] x_{t-k} - B)``, B = 1, no noise.

    Derivation of the tolerance. With p = (kernel by age, bias) and z = A p (A: one row [w, 1]
    per window of the data), the mean value theorem gives sigmoid(z_hat) - sigmoid(z) =
    sigmoid'(xi) (z_hat - z) with xi between the two, so with s = min of sigmoid' over the range
    of z and z_hat,  MSE >= s^2 mean((A (p_hat - p))^2) >= s^2 lambda_min(A^T A / m) |p_hat - p|^2.
    Hence |p_hat - p| <= sqrt(MSE / (s^2 lambda_min)), computed here from the fitted unit's own
    output; the test asserts the parameters are within it and that it is below 0.01.
    """
    b = 1.0
    x = _spike_trains(n=100)
    z = _filtered(x, G) - b
    y = 1.0 / (1.0 + np.exp(-z))
    hu = HybridUnit(
        window_length=L, kernel=torch.full((L,), 0.1), learnable=True, nonlinearity="sigmoid"
    )
    fit_hybrid_unit(hu, torch.tensor(x), torch.tensor(y), steps=1000, learning_rate=0.05)
    with torch.no_grad():
        y_hat = hu.eval()(torch.tensor(x)).double().numpy()
    mse = float(np.mean((y_hat - y) ** 2))
    z_hat = np.log(y_hat / (1.0 - y_hat))
    design = np.hstack([_windows_by_age(x), np.ones((x.size, 1))])
    lambda_min = np.linalg.eigvalsh(design.T @ design / design.shape[0])[0]
    lo, hi = min(z.min(), z_hat.min()), max(z.max(), z_hat.max())
    slope = min(np.exp(-abs(u)) / (1 + np.exp(-abs(u))) ** 2 for u in (lo, hi))
    tolerance = np.sqrt(mse / (slope**2 * lambda_min))
    kernel, bias = _effective(hu.export())
    error = np.linalg.norm(np.r_[kernel, bias] - np.r_[G, -b])
    assert tolerance < 0.01
    assert error <= tolerance + 1e-6  # 1e-6: float32 rounding of the unit's output


def test_fit_is_seeded_and_leaves_global_state_alone():
    x = torch.tensor(_spike_trains(n=40, steps=30))
    y = torch.tensor(_filtered(x.numpy(), G)) / 2

    def fitted(seed):
        hu = HybridUnit(window_length=L, kernel=torch.full((L,), 0.1), learnable=True)
        hu.eval()
        fit = fit_hybrid_unit(hu, x, y, steps=30, batch_size=7, seed=seed)
        assert not hu.training  # mode restored
        return fit.losses, hu.export()["kernel"]

    state = torch.get_rng_state()
    first, again, other = fitted(3), fitted(3), fitted(4)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_fit_trains_a_unit_jointly_with_the_network_after_it():
    """An HU followed by a linear read-out, fitted as one module; the end-to-end loss falls."""
    x = torch.tensor(_spike_trains(n=50, steps=40))
    y = torch.tensor(2.0 * _filtered(x.numpy(), G) + 0.5)
    hu = HybridUnit(window_length=L, kernel=torch.full((L,), 0.1), learnable=True)

    class Readout(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))
            self.offset = torch.nn.Parameter(torch.zeros(()))

        def forward(self, h):
            return self.scale * h + self.offset

    model = torch.nn.Sequential(hu, Readout())
    fit = fit_hybrid_unit(model, x, y, steps=300)
    assert fit.final_loss < fit.losses[0] / 100


def test_surrogates_by_hand():
    y = torch.tensor([0.0, 0.5, 1.0], requires_grad=True)
    theta = torch.tensor(0.5, requires_grad=True)
    soft = threshold_surrogate(y, theta, 0.25)
    expected = torch.sigmoid((torch.tensor([0.0, 0.5, 1.0]) - 0.5) / 0.25)
    assert torch.allclose(soft, expected)
    hard = threshold_surrogate(y, theta, 0.25, "straight_through")
    assert hard.tolist() == [0.0, 1.0, 1.0]
    hard.sum().backward()
    slope = expected * (1 - expected) / 0.25  # d sigmoid((y - theta) / T) / dy
    assert torch.allclose(y.grad, slope)
    assert torch.allclose(theta.grad, -slope.sum())


def test_learnable_threshold_trains_through_the_surrogate_and_quantises_in_eval():
    hu = HybridUnit(
        window_length=2,
        kernel=[0.5, 1.0],
        learnable=True,
        quantiser="threshold",
        theta=1.2,
        temperature=0.2,
    )
    x = torch.tensor([1.0, 1.0, 0.0])  # kernel sums 1.0, 1.5, 0.5
    out = hu.train()(x)
    assert torch.allclose(out, torch.sigmoid((torch.tensor([1.0, 1.5, 0.5]) - 1.2) / 0.2))
    out.sum().backward()
    assert hu.theta.grad is not None and hu.theta.grad < 0
    assert hu.eval()(x).tolist() == [0.0, 1.0, 0.0]
    # a fixed threshold keeps today's behaviour: Q skipped while training
    fixed = HybridUnit(window_length=2, kernel=[0.5, 1.0], quantiser="threshold", theta=1.2)
    assert fixed.train()(x).tolist() == [1.0, 1.5, 0.5]
    assert not isinstance(fixed.theta, torch.nn.Parameter)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(quantiser="threshold", theta=0.3),
        dict(nonlinearity="sigmoid", quantiser="fixed_point", bits=4),
        dict(nonlinearity="tanh"),
        dict(nonlinearity="relu", quantiser="threshold", theta=0.1),
    ],
)
def test_export_round_trip_matches_the_torch_unit(kwargs):
    hu = HybridUnit(window_length=3, kernel=[0.2, -0.4, 0.7], learnable=True, **kwargs)
    with torch.no_grad():
        hu.gain.fill_(1.3)
        hu.bias.fill_(-0.05)
    exported = hu.export()
    assert isinstance(exported["kernel"], np.ndarray) and exported["kernel"].dtype == np.float64
    assert all(isinstance(exported[k], float) for k in ("gain", "bias", "theta"))
    x = torch.tensor(_spike_trains(n=5, steps=20, rate=0.5))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x.numpy(), ((0, 0), (2, 0))), 3, 1)
    with torch.no_grad():
        expected = hu.eval()(x).double().numpy()
    np.testing.assert_allclose(apply_exported(exported, windows), expected, atol=1e-6)


def test_export_of_a_fixed_unit_and_bernoulli():
    hu = HybridUnit(window_length=2, kernel="rate", quantiser="bernoulli")
    exported = hu.export()
    assert exported["gain"] == 1.0 and exported["bias"] == 0.0 and exported["theta"] == 0.5
    out = apply_exported(exported, np.ones((1000, 2)), rng=np.random.default_rng(0))
    assert out.tolist() == [1.0] * 1000
    with pytest.raises(ParameterError, match="rng"):
        apply_exported(exported, np.ones((3, 2)))


def test_bad_export_and_fit_arguments():
    with pytest.raises(ParameterError, match="nonlinearity"):
        HybridUnit(nonlinearity=lambda h: h).export()
    exported = HybridUnit(window_length=2).export()
    with pytest.raises(DataError, match="windows"):
        apply_exported(exported, np.ones((4, 3)))
    with pytest.raises(ParameterError, match="exported"):
        apply_exported({"kernel": [1.0]}, np.ones((1, 1)))
    hu = HybridUnit(window_length=2, learnable=True)
    x, y = torch.zeros(4, 6), torch.zeros(4, 6)
    for kwargs, name in [
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(batch_size=5), "batch_size"),
        (dict(batch_size=0), "batch_size"),
        (dict(loss="hinge"), "loss"),
    ]:
        with pytest.raises(ParameterError, match=name):
            fit_hybrid_unit(hu, x, y, **kwargs)
    with pytest.raises(DataError, match="targets"):
        fit_hybrid_unit(hu, x, torch.zeros(4, 5), steps=1)
    with pytest.raises(ParameterError, match="trainable"):
        fit_hybrid_unit(HybridUnit(window_length=2), x, y)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(temperature=0.0), "temperature"), (dict(surrogate="tanh"), "surrogate")],
)
def test_bad_learnable_threshold_arguments(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        HybridUnit(window_length=2, learnable=True, quantiser="threshold", **kwargs)


def test_bad_surrogate_kind():
    with pytest.raises(ParameterError, match="surrogate"):
        threshold_surrogate(torch.zeros(1), 0.0, 1.0, "tanh")
