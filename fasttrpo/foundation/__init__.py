"""Foundation: what every layer may use, importing nothing of fasttrpo but this package.

The space -> head -> parameter-count spec (`heads`), the numpy-only policy evaluation that
the runtime and the exporters share (`portable`), argument checks (`validation`), thread
pools (`threads`), the Numba cache's housekeeping (`numba_cache`), schedules, the step
defaults, and compatibility shims. Standard library and numpy only (no Numba, no gymnasium),
so the deployment runtime can import it on a machine with numpy alone.
"""
