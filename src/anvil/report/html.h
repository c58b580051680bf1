// Text helpers every report page shares: HTML escaping (safe in element text, attribute values and
// inline SVG) and compact number formats for tables and tick labels. Pure functions, no state.
#pragma once

#include <string>
#include <string_view>

namespace anvil::report {

// Escapes & < > " ' so any byte string is safe as HTML/SVG text or a quoted attribute value.
std::string html_escape(std::string_view s);

// A number in at most `sig` significant digits with an SI suffix from 10^4 up ("12.3k", "4.1M", "2.05G"),
// plain decimals down to 10^-3 ("0.0025", "2.5", "123.4"), scientific below ("3e-04" style: "3e-4").
// Non-finite values print as "nan", "inf", "-inf".
std::string format_compact(double v, int sig = 4);

// Seconds as "42.0 s", "12 min 05 s", "3 h 07 min".
std::string format_duration(double seconds);

}  // namespace anvil::report
