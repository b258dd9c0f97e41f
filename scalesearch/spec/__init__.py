"""What a network is: NetSpec and its block strings, search spaces, scaling rules, presets.

Pure data and pure functions: nothing here builds a module, measures or touches a file
except to read a search space.
"""
