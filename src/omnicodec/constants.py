"""Numbers and names that several layers of omnicodec share (no imports: any module may use it)."""

SPEECH_RATE = 16000  # Hz: speech is coded, trained and measured mono at this rate
IMAGE_STRIDE = 64  # pixels: image and video transforms downsample by this; frames are padded to a multiple
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")  # speech files omnicodec reads and writes
