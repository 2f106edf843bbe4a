<?xml version="1.0" encoding="UTF-8"?>
<!--
  cdisc-pipeline: an XSLT 1.0 stylesheet that renders a Define-XML 2.1 document (as written by
  pipeline/submit/define.py) as one HTML page in a web browser: study header, standards, datasets,
  variables (with value-level metadata and where clauses), code lists, external dictionaries and
  methods. Written for this project; shipped beside define.xml and referenced from it by an
  xml-stylesheet processing instruction. XSLT 1.0 only, so every browser can apply it.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:odm="http://www.cdisc.org/ns/odm/v1.3"
    xmlns:def="http://www.cdisc.org/ns/def/v2.1"
    xmlns:xlink="http://www.w3.org/1999/xlink"
    xmlns:arm="http://www.cdisc.org/ns/arm/v1.0"
    exclude-result-prefixes="odm def xlink arm">

  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:key name="item" match="odm:ItemDef" use="@OID"/>
  <xsl:key name="codelist" match="odm:CodeList" use="@OID"/>
  <xsl:key name="method" match="odm:MethodDef" use="@OID"/>
  <xsl:key name="valuelist" match="def:ValueListDef" use="@OID"/>
  <xsl:key name="where" match="def:WhereClauseDef" use="@OID"/>
  <xsl:key name="leaf" match="def:leaf" use="@ID"/>

  <xsl:variable name="mdv" select="/odm:ODM/odm:Study/odm:MetaDataVersion"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <title>
          <xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/>
          <xsl:text> - </xsl:text>
          <xsl:value-of select="$mdv/@Name"/>
        </title>
        <style>
          body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; }
          header { background: #16325c; color: #fff; padding: 1em 2em; }
          header h1 { margin: 0 0 .3em 0; font-size: 1.5em; }
          header p { margin: .15em 0; font-size: .9em; }
          nav { position: fixed; top: 0; bottom: 0; left: 0; width: 15em; overflow-y: auto;
                background: #f3f5f8; border-right: 1px solid #d0d6de; padding: 1em; font-size: .85em; }
          nav ul { list-style: none; padding-left: .8em; margin: .2em 0; }
          main { margin-left: 17em; padding: 0 2em 3em 2em; }
          .with-nav header { margin-left: 17em; }
          h2 { border-bottom: 2px solid #16325c; padding-bottom: .2em; margin-top: 2em; }
          h3 { margin-top: 1.6em; }
          table { border-collapse: collapse; width: 100%; margin: .6em 0 1.2em 0; font-size: .85em; }
          th, td { border: 1px solid #c8ced6; padding: .3em .5em; text-align: left; vertical-align: top; }
          th { background: #e6ebf2; }
          tr:nth-child(even) td { background: #fafbfc; }
          .code { font-family: ui-monospace, monospace; }
          .muted { color: #5f6b7a; }
          a { color: #0b5cad; }
        </style>
      </head>
      <body class="with-nav">
        <nav>
          <strong>Contents</strong>
          <ul>
            <li><a href="#standards">Standards</a></li>
            <li><a href="#datasets">Datasets</a>
              <ul>
                <xsl:for-each select="$mdv/odm:ItemGroupDef">
                  <li><a href="#IG.{@Name}"><xsl:value-of select="@Name"/></a></li>
                </xsl:for-each>
              </ul>
            </li>
            <xsl:if test="$mdv/def:ValueListDef"><li><a href="#valuelists">Value-level metadata</a></li></xsl:if>
            <xsl:if test="$mdv/odm:CodeList"><li><a href="#codelists">Code lists</a></li></xsl:if>
            <xsl:if test="$mdv/odm:MethodDef"><li><a href="#methods">Methods</a></li></xsl:if>
            <xsl:if test="$mdv/arm:AnalysisResultDisplays"><li><a href="#results">Analysis results</a></li></xsl:if>
          </ul>
        </nav>
        <header>
          <h1><xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyName"/></h1>
          <p><xsl:value-of select="/odm:ODM/odm:Study/odm:GlobalVariables/odm:StudyDescription"/></p>
          <p>
            <xsl:value-of select="$mdv/@Name"/>
            <xsl:text> (Define-XML </xsl:text><xsl:value-of select="$mdv/@def:DefineVersion"/><xsl:text>)</xsl:text>
          </p>
          <p>
            <xsl:text>Created </xsl:text><span class="created"><xsl:value-of select="/odm:ODM/@CreationDateTime"/></span>
            <xsl:if test="/odm:ODM/@AsOfDateTime">
              <xsl:text>; data as of </xsl:text><span class="as-of"><xsl:value-of select="/odm:ODM/@AsOfDateTime"/></span>
            </xsl:if>
            <xsl:text>; by </xsl:text><xsl:value-of select="/odm:ODM/@SourceSystem"/>
            <xsl:text> </xsl:text><xsl:value-of select="/odm:ODM/@SourceSystemVersion"/>
          </p>
        </header>
        <main>
          <xsl:call-template name="standards"/>
          <xsl:call-template name="datasets"/>
          <xsl:apply-templates select="$mdv/odm:ItemGroupDef"/>
          <xsl:call-template name="valuelists"/>
          <xsl:call-template name="codelists"/>
          <xsl:call-template name="methods"/>
          <xsl:call-template name="results"/>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template name="standards">
    <h2 id="standards">Standards</h2>
    <table>
      <tr><th>Name</th><th>Type</th><th>Publishing set</th><th>Version</th><th>Status</th></tr>
      <xsl:for-each select="$mdv/def:Standards/def:Standard">
        <tr>
          <td><xsl:value-of select="@Name"/></td><td><xsl:value-of select="@Type"/></td>
          <td><xsl:value-of select="@PublishingSet"/></td><td><xsl:value-of select="@Version"/></td>
          <td><xsl:value-of select="@Status"/></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template name="datasets">
    <h2 id="datasets">Datasets</h2>
    <table class="datasets">
      <tr><th>Dataset</th><th>Description</th><th>Class</th><th>Structure</th><th>Purpose</th><th>Keys</th><th>Location</th></tr>
      <xsl:for-each select="$mdv/odm:ItemGroupDef">
        <tr>
          <td class="code"><a href="#IG.{@Name}"><xsl:value-of select="@Name"/></a></td>
          <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
          <td>
            <xsl:value-of select="def:Class/@Name"/>
            <xsl:if test="def:Class/def:SubClass"> / <xsl:value-of select="def:Class/def:SubClass/@Name"/></xsl:if>
          </td>
          <td><xsl:value-of select="@def:Structure"/></td>
          <td><xsl:value-of select="@Purpose"/></td>
          <td class="code">
            <xsl:for-each select="odm:ItemRef[@KeySequence]">
              <xsl:sort select="@KeySequence" data-type="number"/>
              <xsl:value-of select="key('item', @ItemOID)/@Name"/>
              <xsl:if test="position() != last()">, </xsl:if>
            </xsl:for-each>
          </td>
          <td class="code"><a href="{def:leaf/@xlink:href}"><xsl:value-of select="def:leaf/def:title"/></a></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="odm:ItemGroupDef">
    <h3 id="IG.{@Name}" class="dataset">
      <xsl:value-of select="@Name"/><xsl:text> - </xsl:text><xsl:value-of select="odm:Description/odm:TranslatedText"/>
    </h3>
    <p class="muted">
      <xsl:value-of select="@def:Structure"/>
      <xsl:text>. Location: </xsl:text><a href="{def:leaf/@xlink:href}"><xsl:value-of select="def:leaf/def:title"/></a>
    </p>
    <table class="variables">
      <tr><th>Variable</th><th>Label</th><th>Type</th><th>Length</th><th>Format</th><th>Controlled terms or format</th>
          <th>Origin</th><th>Derivation / source</th></tr>
      <xsl:for-each select="odm:ItemRef">
        <xsl:sort select="@OrderNumber" data-type="number"/>
        <xsl:variable name="item" select="key('item', @ItemOID)"/>
        <tr id="{@ItemOID}">
          <td class="code">
            <xsl:value-of select="$item/@Name"/>
            <xsl:if test="@KeySequence"><span class="muted"> (key <xsl:value-of select="@KeySequence"/>)</span></xsl:if>
          </td>
          <td><xsl:value-of select="$item/odm:Description/odm:TranslatedText"/></td>
          <td><xsl:value-of select="$item/@DataType"/></td>
          <td><xsl:value-of select="$item/@Length"/></td>
          <td class="code"><xsl:value-of select="$item/@def:DisplayFormat"/></td>
          <td>
            <xsl:for-each select="$item/odm:CodeListRef">
              <a href="#{@CodeListOID}"><xsl:value-of select="key('codelist', @CodeListOID)/@Name"/></a>
            </xsl:for-each>
            <xsl:for-each select="$item/def:ValueListRef">
              <xsl:if test="../odm:CodeListRef"><br/></xsl:if>
              <a href="#{@ValueListOID}">Value-level metadata</a>
            </xsl:for-each>
          </td>
          <td><xsl:call-template name="origin"><xsl:with-param name="item" select="$item"/></xsl:call-template></td>
          <td>
            <xsl:if test="@MethodOID">
              <a href="#{@MethodOID}" class="method"><xsl:value-of select="key('method', @MethodOID)/odm:Description/odm:TranslatedText"/></a>
            </xsl:if>
            <xsl:if test="$item/def:Origin/def:Source"><xsl:value-of select="$item/def:Origin/def:Source"/></xsl:if>
          </td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template name="origin">
    <xsl:param name="item"/>
    <xsl:for-each select="$item/def:Origin">
      <xsl:value-of select="@Type"/>
      <xsl:if test="@Source"> (<xsl:value-of select="@Source"/>)</xsl:if>
      <xsl:if test="odm:Description/odm:TranslatedText">
        <xsl:text>: </xsl:text><span class="code"><xsl:value-of select="odm:Description/odm:TranslatedText"/></span>
      </xsl:if>
    </xsl:for-each>
  </xsl:template>

  <xsl:template name="valuelists">
    <xsl:if test="$mdv/def:ValueListDef">
      <h2 id="valuelists">Value-level metadata</h2>
      <xsl:for-each select="$mdv/def:ValueListDef">
        <h3 id="{@OID}" class="valuelist"><xsl:value-of select="@OID"/></h3>
        <table>
          <tr><th>Where</th><th>Label</th><th>Type</th><th>Length</th><th>Origin</th><th>Mandatory</th></tr>
          <xsl:for-each select="odm:ItemRef">
            <xsl:sort select="@OrderNumber" data-type="number"/>
            <xsl:variable name="item" select="key('item', @ItemOID)"/>
            <tr>
              <td class="code">
                <xsl:for-each select="def:WhereClauseRef">
                  <xsl:for-each select="key('where', @WhereClauseOID)/odm:RangeCheck">
                    <xsl:value-of select="key('item', @def:ItemOID)/@Name"/>
                    <xsl:text> </xsl:text><xsl:value-of select="@Comparator"/><xsl:text> </xsl:text>
                    <xsl:for-each select="odm:CheckValue">
                      <xsl:value-of select="."/><xsl:if test="position() != last()">, </xsl:if>
                    </xsl:for-each>
                    <xsl:if test="position() != last()"> and </xsl:if>
                  </xsl:for-each>
                </xsl:for-each>
              </td>
              <td><xsl:value-of select="$item/odm:Description/odm:TranslatedText"/></td>
              <td><xsl:value-of select="$item/@DataType"/></td>
              <td><xsl:value-of select="$item/@Length"/></td>
              <td><xsl:call-template name="origin"><xsl:with-param name="item" select="$item"/></xsl:call-template></td>
              <td><xsl:value-of select="@Mandatory"/></td>
            </tr>
          </xsl:for-each>
        </table>
      </xsl:for-each>
    </xsl:if>
  </xsl:template>

  <xsl:template name="codelists">
    <xsl:if test="$mdv/odm:CodeList">
      <h2 id="codelists">Code lists</h2>
      <xsl:for-each select="$mdv/odm:CodeList">
        <h3 id="{@OID}" class="codelist">
          <xsl:value-of select="@Name"/>
          <xsl:if test="odm:Alias[@Context='nci:ExtCodeID']">
            <span class="muted"> (<xsl:value-of select="odm:Alias[@Context='nci:ExtCodeID']/@Name"/>)</span>
          </xsl:if>
        </h3>
        <xsl:choose>
          <xsl:when test="odm:ExternalCodeList">
            <p>External dictionary <xsl:value-of select="odm:ExternalCodeList/@Dictionary"/>,
               version <xsl:value-of select="odm:ExternalCodeList/@Version"/></p>
          </xsl:when>
          <xsl:otherwise>
            <table>
              <tr><th>Coded value</th><th>Decode</th><th>NCI code</th></tr>
              <xsl:for-each select="odm:CodeListItem | odm:EnumeratedItem">
                <xsl:sort select="@OrderNumber" data-type="number"/>
                <tr>
                  <td class="code">
                    <xsl:value-of select="@CodedValue"/>
                    <xsl:if test="@def:ExtendedValue = 'Yes'"><span class="muted"> (extended)</span></xsl:if>
                  </td>
                  <td><xsl:value-of select="odm:Decode/odm:TranslatedText"/></td>
                  <td class="code"><xsl:value-of select="odm:Alias/@Name"/></td>
                </tr>
              </xsl:for-each>
            </table>
          </xsl:otherwise>
        </xsl:choose>
      </xsl:for-each>
    </xsl:if>
  </xsl:template>

  <xsl:template name="methods">
    <xsl:if test="$mdv/odm:MethodDef">
      <h2 id="methods">Methods</h2>
      <table class="methods">
        <tr><th>Method</th><th>Type</th><th>Description</th></tr>
        <xsl:for-each select="$mdv/odm:MethodDef">
          <tr id="{@OID}">
            <td><xsl:value-of select="@Name"/></td>
            <td><xsl:value-of select="@Type"/></td>
            <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
          </tr>
        </xsl:for-each>
      </table>
    </xsl:if>
  </xsl:template>

  <xsl:template name="results">
    <xsl:if test="$mdv/arm:AnalysisResultDisplays">
      <h2 id="results">Analysis results</h2>
      <xsl:for-each select="$mdv/arm:AnalysisResultDisplays/arm:ResultDisplay">
        <h3 id="{@OID}"><xsl:value-of select="@Name"/> - <xsl:value-of select="odm:Description/odm:TranslatedText"/></h3>
        <table>
          <tr><th>Analysis result</th><th>Reason</th><th>Purpose</th><th>Datasets</th></tr>
          <xsl:for-each select="arm:AnalysisResult">
            <tr>
              <td><xsl:value-of select="odm:Description/odm:TranslatedText"/></td>
              <td><xsl:value-of select="@AnalysisReason"/></td>
              <td><xsl:value-of select="@AnalysisPurpose"/></td>
              <td class="code">
                <xsl:for-each select="arm:AnalysisDatasets/arm:AnalysisDataset">
                  <xsl:value-of select="substring-after(@ItemGroupOID, 'IG.')"/>
                  <xsl:if test="position() != last()">, </xsl:if>
                </xsl:for-each>
              </td>
            </tr>
          </xsl:for-each>
        </table>
      </xsl:for-each>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
