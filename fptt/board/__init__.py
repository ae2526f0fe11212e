"""Talking to the core on a board: the serial bridge's packet protocol and the host driver.

- :mod:`fptt.board.protocol`: packets, CRC-8, frame packing (the reference the
  RTL bridge :mod:`fptt.rtl.bridge` is checked against; ``docs/bridge.md``);
- :mod:`fptt.board.driver`: the host driver over an abstract byte link;
- :mod:`fptt.board.serial_link`: a serial port (a device path or a pyserial URL) as that
  link, the driver made synchronous;
- :mod:`fptt.board.frames`: the frames of a sequence (what the core's input port takes);
- :mod:`fptt.board.model`: the board as a learner of ``fptt train --model board``;
- :mod:`fptt.board.simlink`: the bridge and a core in the Amaranth simulator as that link;
- :mod:`fptt.board.resources`: the bridge's own cell count on iCE40.
"""
