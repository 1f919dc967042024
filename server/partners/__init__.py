"""Partner points (issue 10): partner companies, member links, conversions on hold, premiums, coupons."""
