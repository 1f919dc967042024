"""Partner points: partner companies, member links, conversions on hold, premiums, coupons."""
