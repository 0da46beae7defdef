"""Protocol buffers without the protobuf package: the wire format and TensorFlow's messages."""

from tensorflux.proto.wire import DecodeError, Field, Message, decode, encode

__all__ = ["DecodeError", "Field", "Message", "decode", "encode"]
