print("mtrnnctl")
