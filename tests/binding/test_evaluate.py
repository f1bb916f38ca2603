"""evaluate() on hand-built spike patterns whose scores follow from the definitions."""

import numpy as np
import pytest

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.evaluate import evaluate
from hnnbio.errors import DataError

D, CYCLES = 12, 4


def _phase_result(jitter=0):
    """Two objects in a 4x4 image, object 1 fires at step 1 of each cycle, object 2 at step 7."""
    truth = np.zeros((1, 4, 4), int)
    truth[0, 0, :] = 1
    truth[0, 2, :] = 2
    images = (truth > 0).astype(np.uint8)
    steps, pixels = [], []
    for c in range(CYCLES):
        for p in np.flatnonzero(truth[0].ravel() == 1):
            steps.append(c * D + 1 + (jitter * p) % 2 * (c == CYCLES - 1))
            pixels.append(p)
        for p in np.flatnonzero(truth[0].ravel() == 2):
            steps.append(c * D + 7)
            pixels.append(p)
    steps, pixels = np.array(steps), np.array(pixels)
    return BindingResult(
        images=images,
        spike_image=np.zeros_like(steps),
        spike_step=steps,
        spike_pixel=pixels,
        n_steps=CYCLES * D,
        steps_per_cycle=D,
        truth=truth,
        info={"readout_cycles": CYCLES},
    )


def test_phase_separated_objects_score_perfectly():
    r = evaluate(_phase_result())
    assert r.metrics["ami"][0] == pytest.approx(1.0)
    # VP(q=1/3) between the groups: a shift of 6 steps costs 2 = delete + insert; 0 within
    assert r.metrics["synchrony"][0] == pytest.approx(1.0)
    # equal spike counts: every q=0 distance is 0, so every silhouette value is 0
    assert r.metrics["rate"][0] == pytest.approx(0.0)
    assert r.metrics["ami_auto"][0] == pytest.approx(1.0)
    assert (r.labels[0][r.images[0] == 0] == 0).all()


def test_jitter_lowers_synchrony_by_the_hand_value():
    """In the last cycle object 1's 4 pixels alternate between steps 1 and 2; object 2 at step 7.

    Within object 1, VP(q=1/3) is 0 or 1/3, so a = (2/3)/3 = 2/9 for each of its pixels; to object 2
    a step-1 pixel is at 2 (6-step shift costs more than delete + insert), a step-2 pixel at 5/3.
    Object 2: a = 0, so s = 1."""
    r = evaluate(_phase_result(jitter=1))
    a = 2 / 9
    expected = (2 * (2 - a) / 2 + 2 * (5 / 3 - a) / (5 / 3) + 4 * 1.0) / 8
    assert r.metrics["ami"][0] == pytest.approx(1.0)
    assert r.metrics["synchrony"][0] == pytest.approx(expected)


def test_needs_objects_or_truth():
    r = _phase_result()
    r.truth = None
    with pytest.raises(DataError, match="n_objects"):
        evaluate(r)
    evaluate(r, n_objects=2)
    assert r.labels.shape == (1, 4, 4) and r.metrics == {}


def test_score_selection():
    r = evaluate(_phase_result(), scores=("ami",))
    assert set(r.metrics) == {"ami"}
    with pytest.raises(DataError, match="scores"):
        evaluate(_phase_result(), scores=("accuracy",))


def test_fast_ami_is_scikit_learns_ami_over_object_pixels():
    from sklearn.metrics import adjusted_mutual_info_score

    from hnnbio.binding.evaluate import fast_ami

    rng = np.random.default_rng(4)
    for _ in range(200):
        n, r, c = int(rng.integers(1, 250)), int(rng.integers(1, 14)), int(rng.integers(1, 14))
        truth, labels = rng.integers(0, r + 1, n), rng.integers(0, c + 1, n)
        if rng.random() < 0.4:  # mostly right, as a good readout is
            labels = np.where(rng.random(n) < 0.8, truth, labels)
        fg = truth > 0
        if not fg.any():
            assert np.isnan(fast_ami(truth, labels))
            continue
        want = adjusted_mutual_info_score(truth[fg], labels[fg])
        assert abs(fast_ami(truth, labels) - want) < 1e-12
    assert fast_ami(np.array([1, 1, 2]), np.array([0, 0, 0])) == 0.0  # one group: no information
    assert fast_ami(np.array([2, 2, 0]), np.array([5, 5, 1])) == 1.0  # one object, one group
    assert fast_ami(np.array([1, 1, 2, 2]), np.array([3, 3, 4, 4])) == 1.0


def test_evaluate_ari_scores_are_scikit_learns_over_their_pixels():
    """evaluate's ARI-FG (object pixels) and ARI (every pixel but the overlaps, background a
    group) equal scikit-learn's adjusted_rand_score over those pixels, on a short Shapes run
    whose labels are imperfect."""
    from sklearn.metrics import adjusted_rand_score

    from hnnbio.binding.bind import bind
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    spec = load_spec("shapes")
    images, truth = datasets.generate(spec.dataset, 6, 3)
    r = bind(images, spec, seed=0, truth=truth, cycles=4)
    assert np.nanmin(r.metrics["ari_fg"]) < 1.0  # not all perfect: the comparison bites
    for i in range(r.n_images):
        t, lab, img = r.truth[i].ravel(), r.labels[i].ravel(), r.images[i].ravel()
        fg, keep = t > 0, (t > 0) | (img == 0)
        assert r.metrics["ari_fg"][i] == pytest.approx(adjusted_rand_score(t[fg], lab[fg]),
                                                       abs=1e-12)
        assert r.metrics["ari"][i] == pytest.approx(adjusted_rand_score(t[keep], lab[keep]),
                                                    abs=1e-12)
