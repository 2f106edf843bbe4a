"""GX Data Docs offline: no CDN asset, no script, the index tables written out as HTML, idempotent."""

import re

from pipeline.validate.data_docs import OFFLINE_MARK, make_data_docs_offline, offline_page

GX_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
    <link rel="stylesheet" type="text/css" href="https://unpkg.com/bootstrap-table@1.19.0/dist/x.min.css">
    <style> .x { background: url('https://great-expectations-web-assets.s3.amazonaws.com/logo.png') } </style>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
<link rel="shortcut icon" href="./static/images/favicon.ico" type="image/x-icon"/>
  </head>
  <body>
<a href="https://docs.greatexpectations.io/docs/">GX docs</a>
<table
  id="section-1-content-block-2-1-body-table"
  class="table-sm"
  data-toggle="table"
>
</table>
<script>
  $('#section-1-content-block-2-1-body-table').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'validation_success', 'title': 'Status'}, {'field': 'asset_name', 'title': 'Asset Name'}],
        data: [{'validation_success': '<i class="fas fa-check"></i>', '_validation_success_text': 'Failed', 'asset_name': '001_dm_records', '_table_row_link_path': 'validations/001.html'}],
        toolbar: '#toolbar'
      },
      {'search': 'true'}
    )
  );
</script>
<script>
  $(".ge-walkthrough-modal").modal();
</script>
  </body>
</html>
"""
REMOTE_ASSET = re.compile(r"""(?:\bsrc\s*=\s*["']https?://|<link\b[^>]*href\s*=\s*["']https?://|url\(\s*["']?https?://)""")


def test_offline_page_has_no_remote_asset_and_no_script():
    page = offline_page(GX_PAGE)
    assert REMOTE_ASSET.search(page) is None
    assert "<script" not in page
    assert 'href="./static/images/favicon.ico"' in page              # local assets stay
    assert '<a href="https://docs.greatexpectations.io/docs/">' in page  # a link is not a request


def test_bootstrap_table_rows_are_written_into_the_table():
    page = offline_page(GX_PAGE)
    table = re.search(r'<table\s+id="section-1-content-block-2-1-body-table".*?</table>', page, re.S).group(0)
    assert "<th>Status</th><th>Asset Name</th>" in table
    assert '<tr><td>Failed</td><td>001_dm_records</td><td><a href="validations/001.html">open</a></td></tr>' in table


def test_offline_rewrite_is_idempotent_and_fixes_css(tmp_path):
    (tmp_path / "static" / "styles").mkdir(parents=True)
    css = tmp_path / "static" / "styles" / "data_docs_default_styles.css"
    css.write_text(".logo { background: url('https://great-expectations-web-assets.s3.amazonaws.com/full_logo_dark.png') 0 0; }")
    page = tmp_path / "index.html"
    page.write_text(GX_PAGE)
    make_data_docs_offline(tmp_path)
    once = page.read_text()
    make_data_docs_offline(tmp_path)
    assert page.read_text() == once and once.count(OFFLINE_MARK) == 1
    assert "url('../images/logo-long.png')" in css.read_text() and "https://" not in css.read_text()
