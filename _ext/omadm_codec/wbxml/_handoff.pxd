# Header-only (no module is built from it): how often compiled loops over a large input let
# other Python threads run (issue 13). A 256 KiB message decoded in the server's worker thread
# held the interpreter lock for its whole call (20-40 ms), and the event loop, woken from its
# selector, waited for the lock that long.
#
# Every HANDOFF_EVERY steps (events, elements, tokens) a loop calls
# omadm_codec.wbxml._switch.switch_point, a Python function that does nothing: on entering it
# the interpreter hands its lock to a thread that has asked for it (one that has waited a
# switch interval, 5 ms by default), and waits until that thread has it. The wait of another
# thread is thus bounded by the switch interval and one step of HANDOFF_EVERY, as for Python
# code, and a call with no thread waiting pays a counter and, rarely, a function call.
#
# Not a bare release and re-take of the lock (`with nogil: pass`): the release wakes a waiting
# thread, which often takes the lock at once, but when it does not it starts its switch
# interval anew, never asks, and may wait for the whole call (measured in a synthetic 200 ms
# loop releasing every 0.05-2 ms, at load 5 on two cores: a 1 ms ticker late by under 1 ms
# usually, and by 16-106 ms in some runs).
#
# Invariant at every call site: no pointer into a Python object that another thread could
# change or free. The inputs are bytes (immutable, and referenced by the caller for the whole
# call); buffers, scanners and builders are the call's own (taken from a one-slot cache before
# any Python code runs); the model objects the writers read are held by owned references.
# Other threads may run any Python code there, including another decode or encode. The call
# may raise (a signal handler's KeyboardInterrupt in the main thread): call sites propagate.

cdef enum:
    HANDOFF_EVERY = 2048     # events or tags; a power of two: 0.06-0.1 ms of decoding (measured)
    HANDOFF_COMMANDS = 128   # commands and items (the XML writer): some 10,000 bytes of XML
