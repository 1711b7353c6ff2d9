"""What every part of the library may use and that imports nothing else of it: atomic writes, memory
estimates, how a process uses the machine (threads, precision, OpenMP's wait policy), file digests."""
