"""SwapEMAWeights against real Keras 3 (torch backend), and RemoteMonitor against a local
http.server on 127.0.0.1."""

import http.server
import json
import threading
import urllib.parse

import numpy as np
import pytest

from tensorflux import keras as tfk
from tensorflux.keras import callbacks

from ._oracle import assert_matches, import_keras

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = rng.normal(size=(48, 2)).astype("float32")
    return x, y


def _fit(module, weights, swap_on_epoch, make_optimizer):
    layers = [module.Input((4,)), module.layers.Dense(5, activation="tanh"),
              module.layers.Dense(2)]
    model = module.Sequential(layers)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=make_optimizer(module.optimizers), loss="mse")
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x[:16], y[:16]),
                        callbacks=[module.callbacks.SwapEMAWeights(swap_on_epoch)])
    return model, history


@pytest.mark.keras_oracle
@pytest.mark.parametrize("swap_on_epoch", [False, True])
@pytest.mark.parametrize("make", [
    lambda o: o.SGD(learning_rate=0.1, momentum=0.5, use_ema=True, ema_momentum=0.9),
    lambda o: o.Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.8),
    lambda o: o.Lamb(learning_rate=0.05, use_ema=True, ema_momentum=0.8),
], ids=["sgd_flat", "adam_flat", "lamb_per_variable"])
def test_swap_ema_weights_matches_keras(keras, swap_on_epoch, make):
    k_start = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                                keras.layers.Dense(2)])
    weights = [np.asarray(w) for w in k_start.get_weights()]
    k_model, k_history = _fit(keras, weights, swap_on_epoch, make)
    t_model, t_history = _fit(tfk, weights, swap_on_epoch, make)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(t_history.history[key], k_history.history[key], rtol=1e-5,
                                   err_msg=key)
    for ours, theirs in zip(t_model.get_weights(), k_model.get_weights()):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6, what="final weights")
    k_averages = k_model.optimizer._model_variables_moving_average
    t_averages = t_model.optimizer._model_variables_moving_average
    for ours, theirs in zip(t_averages, k_averages):
        assert_matches(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6, what="averages")


def test_swap_ema_weights_requires_use_ema():
    model = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(ValueError, match="use_ema"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                  callbacks=[callbacks.SwapEMAWeights()])


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        self.server.posts.append({"path": self.path, "headers": dict(self.headers),
                                  "body": self.rfile.read(length)})
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.posts = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _root(httpd):
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_remote_monitor_posts_a_form(server):
    monitor = callbacks.RemoteMonitor(root=_root(server), headers={"X-Run": "7"})
    monitor.on_epoch_end(2, {"loss": np.float32(0.25), "acc": np.array(0.5), "lr": 0.1})
    (post,) = server.posts
    assert post["path"] == "/publish/epoch/end/"
    assert post["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert post["headers"]["X-Run"] == "7"
    form = urllib.parse.parse_qs(post["body"].decode())
    assert json.loads(form["data"][0]) == {"epoch": 2, "loss": 0.25, "acc": 0.5, "lr": 0.1}


def test_remote_monitor_posts_json_during_fit(server):
    monitor = callbacks.RemoteMonitor(root=_root(server), path="/metrics", field="ignored",
                                      send_as_json=True)
    model = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    assert [p["path"] for p in server.posts] == ["/metrics", "/metrics"]
    assert all(p["headers"]["Content-Type"] == "application/json" for p in server.posts)
    sent = [json.loads(p["body"]) for p in server.posts]
    assert [s["epoch"] for s in sent] == [0, 1]
    np.testing.assert_allclose([s["loss"] for s in sent], history.history["loss"], rtol=1e-6)


def test_remote_monitor_http_error_is_quiet_and_unreachable_warns(server, recwarn):
    callbacks.RemoteMonitor(root=_root(server), path="/fail").on_epoch_end(0, {"loss": 1.0})
    assert len(server.posts) == 1 and not [w for w in recwarn if "RemoteMonitor" in
                                           str(w.message)]
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}").on_epoch_end(0, {})


def test_remote_monitor_rejects_other_schemes(tmp_path):
    monitor = callbacks.RemoteMonitor(root=f"file://{tmp_path}", path="/x")
    with pytest.raises(ValueError, match="http"):
        monitor.on_epoch_end(0, {})


@pytest.mark.keras_oracle
def test_constructor_defaults_match_keras(keras):
    for name in ("RemoteMonitor", "SwapEMAWeights"):
        ours, theirs = getattr(callbacks, name)(), getattr(keras.callbacks, name)()
        for attr in ("root", "path", "field", "headers", "send_as_json", "swap_on_epoch"):
            if hasattr(theirs, attr):
                assert getattr(ours, attr) == getattr(theirs, attr), (name, attr)
