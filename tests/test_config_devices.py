"""tf.config's device lists, named as TensorFlow names them (observed with TF 2.21 on a CPU:
PhysicalDevice '/physical_device:CPU:0', LogicalDevice '/device:CPU:0')."""

import tensorflux as tf


def test_physical_and_logical_devices_are_named_as_in_tensorflow():
    physical = tf.config.list_physical_devices("CPU")
    logical = tf.config.list_logical_devices("CPU")
    assert [d.name for d in physical] == ["/physical_device:CPU:0"]
    assert [d.name for d in logical] == ["/device:CPU:0"]
    assert [d.device_type for d in logical] == ["CPU"]
    assert repr(logical[0]) == "LogicalDevice(name='/device:CPU:0', device_type='CPU')"
    # every physical device has its logical one, and a logical name places ops
    assert len(tf.config.list_logical_devices()) == len(tf.config.list_physical_devices())
    with tf.device(logical[0].name):
        assert float(tf.constant(2.0) * 3.0) == 6.0
