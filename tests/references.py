"""Published reference values shared by several validation tests (each test cites its source)."""

# Ponce, online calculator "onlinerouting01" (San Diego State University, 2007): linear reservoir routing,
# K = 2 h, dt = 1 h, inflows 100, 150, 250, 400, 800, 1000, 900, 700, 550, 400, 300, 250, 200,
# 150, 120, 100, 100, 100 m3/s; published outflows (rounded to 3 decimals).
PONCE_LINEAR_RESERVOIR_INFLOW = [100, 150, 250, 400, 800, 1000, 900, 700, 550, 400, 300, 250, 200, 150, 120, 100,
                                 100, 100]  # fmt: skip
PONCE_LINEAR_RESERVOIR_OUTFLOW = [110, 146, 217.6, 370.56, 582.336, 729.402, 757.641, 704.585, 612.751, 507.65,
                                  414.59, 338.754, 273.252, 217.951, 174.771, 144.863, 126.918]  # fmt: skip
