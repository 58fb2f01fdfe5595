"""The sample codec: typed samples to msgpack bytes and back, arrays in atdata 0.7's layout."""

from atdata.codec.arrays import ArrayFormatError, decode_array, encode_array
from atdata.codec.decode import decode, decoder_for
from atdata.codec.encode import encode

__all__ = ["ArrayFormatError", "decode", "decode_array", "decoder_for", "encode", "encode_array"]
