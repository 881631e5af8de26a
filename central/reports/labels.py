"""The words reports use, Indonesian by default and English on request."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Laporan Kinerja CCTV dan Situs Web OPD",
        "province": "Provinsi Sumatera Selatan",
        "period": "Periode",
        "generated": "Dibuat",
        "summary": "Ringkasan",
        "regency": "Kabupaten/Kota",
        "opd": "OPD",
        "camera": "Kamera",
        "cameras": "Jumlah kamera",
        "availability": "Ketersediaan (%)",
        "downtime": "Waktu henti (menit)",
        "incidents": "Insiden",
        "mttr": "Rata-rata waktu pemulihan (menit)",
        "by_regency": "Ketersediaan kamera per kabupaten/kota",
        "by_opd": "Ketersediaan kamera per OPD",
        "by_camera": "Kamera dengan ketersediaan terendah",
        "websites": "Kepatuhan pembaruan situs web per OPD",
        "website": "Situs web",
        "website_count": "Jumlah situs",
        "compliant": "Patuh",
        "compliance": "Kepatuhan (%)",
        "days_since": "Hari sejak pembaruan terakhir",
        "worst_days": "Terlama (hari)",
        "mean_days": "Rata-rata (hari)",
        "last_update": "Pembaruan terakhir",
        "total": "Total provinsi",
        "none": "-",
        "no_data": "Belum ada data untuk periode ini.",
        "to_date": "sampai hari ini",
        "this_month": "Bulan ini",
        "yes": "ya",
        "no": "tidak",
        "footnote": (
            "Ketersediaan = 1 - waktu offline / waktu terpantau (status diketahui, di luar jendela "
            "pemeliharaan). Insiden = periode offline dalam periode laporan. Rata-rata waktu pemulihan "
            "(MTTR) = durasi rata-rata insiden yang selesai dalam periode. Situs dianggap patuh bila "
            "diperbarui dalam {max_days} hari terakhir."
        ),
        "email_subject": "[SCC] Laporan bulanan {period}",
        "email_body": (
            "Terlampir laporan kinerja CCTV dan situs web OPD Provinsi Sumatera Selatan untuk {period}.\n\n"
            "Ketersediaan kamera se-provinsi: {availability}\n"
            "Insiden: {incidents}; rata-rata waktu pemulihan: {mttr} menit\n"
            "Situs web patuh: {compliant} dari {websites}\n"
        ),
    },
    "en": {
        "title": "CCTV and OPD Website Performance Report",
        "province": "South Sumatra Province",
        "period": "Period",
        "generated": "Generated",
        "summary": "Summary",
        "regency": "Regency/City",
        "opd": "Office (OPD)",
        "camera": "Camera",
        "cameras": "Cameras",
        "availability": "Availability (%)",
        "downtime": "Downtime (minutes)",
        "incidents": "Incidents",
        "mttr": "Mean time to repair (minutes)",
        "by_regency": "Camera availability per regency",
        "by_opd": "Camera availability per office",
        "by_camera": "Cameras with the lowest availability",
        "websites": "Website update compliance per office",
        "website": "Website",
        "website_count": "Websites",
        "compliant": "Compliant",
        "compliance": "Compliance (%)",
        "days_since": "Days since last update",
        "worst_days": "Oldest (days)",
        "mean_days": "Mean (days)",
        "last_update": "Last update",
        "total": "Province total",
        "none": "-",
        "no_data": "No data for this period yet.",
        "to_date": "to date",
        "this_month": "This month",
        "yes": "yes",
        "no": "no",
        "footnote": (
            "Availability = 1 - offline time / monitored time (known status, outside maintenance windows). "
            "Incidents = offline periods within the report period. MTTR = mean duration of the incidents "
            "that ended within the period. A website is compliant when updated within {max_days} days."
        ),
        "email_subject": "[SCC] Monthly report {period}",
        "email_body": (
            "Attached is the CCTV and OPD website performance report of South Sumatra for {period}.\n\n"
            "Province camera availability: {availability}\n"
            "Incidents: {incidents}; mean time to repair: {mttr} minutes\n"
            "Compliant websites: {compliant} of {websites}\n"
        ),
    },
}


def labels(language: str) -> dict[str, str]:
    return LABELS.get(language, LABELS["id"])


def number(value: float | None, digits: int = 2, language: str = "id") -> str:
    """Indonesian style uses a decimal comma; None becomes a dash."""
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "id" else text
